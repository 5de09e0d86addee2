#!/usr/bin/env python3
"""Producer / verifier halves of check-kill9.sh (crash durability).

  kill9.py create  BOOTSTRAP TOPIC PARTITIONS
  kill9.py produce BOOTSTRAP TOPIC --pid BROKER_PID --round R --count N
                   --kill-after K --acked FILE
      Produces N keyed records (acks=all, idempotent). As soon as K records
      are acknowledged the broker gets SIGKILL, from this process, so no
      time passes between the acks and the crash. With K < N more records
      are queued / in flight at that moment; with K == N we flush first and
      kill right after the last ack. Every acknowledged record is written
      to FILE as "partition<TAB>offset<TAB>key<TAB>value". With
      --killed-marker M: touch M after the kill and keep retrying for up to
      60s (the shell restarts the broker meanwhile).
  kill9.py verify  BOOTSTRAP TOPIC PARTITIONS FILE...
      After the restart: every acknowledged record must be present at its
      acknowledged offset with the same key and value. Records that were
      never acknowledged may or may not be there, but no value may appear
      twice (the producer is idempotent).
"""

import argparse
import logging
import os
import signal
import time

from kcompat import Acks, check, consume_all, create_topic, log, produce, producer, run_main, wait_topic_ready


def do_produce(a):
    acks = Acks()
    # Short message timeout: once the broker is dead the remaining records
    # fail after ~8s instead of retrying for minutes -- unless the broker is
    # coming back (--killed-marker), then they should be retried onto the
    # restarted broker and deduplicated by the idempotent producer protocol.
    timeout_ms = 60000 if a.killed_marker else 8000
    # librdkafka logs dozens of expected "connection refused" lines while the
    # broker is down: send them to a file in the work dir instead of stderr.
    client_log = logging.getLogger(f"librdkafka-round{a.round}")
    client_log.addHandler(logging.FileHandler(os.path.join(os.environ.get("WORK", "."),
                                                           f"kill9-client-round{a.round}.log")))
    client_log.propagate = False
    p = producer(a.bootstrap, **{"linger.ms": 2, "message.timeout.ms": timeout_ms, "request.timeout.ms": 5000,
                                 "logger": client_log})
    killed_at = None
    produced = 0
    t0 = time.monotonic()
    deadline = t0 + 120

    def outstanding():
        return produced - len(acks.ok) - len(acks.errors)

    def kill():
        nonlocal killed_at
        os.kill(a.pid, signal.SIGKILL)
        killed_at = len(acks.ok)
        log(f"SIGKILL broker pid {a.pid} after {len(acks.ok)} acks, {outstanding()} records queued/in flight")
        if a.killed_marker:
            open(a.killed_marker, "w").close()  # tells check-kill9.sh to restart the broker

    # Keep producing after the kill too: those records are queued while the
    # broker is down (time out in round 2, retried after restart in round 3).
    # Kill only while plenty of records are outstanding, so some produce
    # requests are really in flight at that moment.
    while produced < a.count:
        check(time.monotonic() < deadline, "produce phase took over 120s")
        i = produced
        produce(p, a.topic, f"k{i % 31}".encode(), f"r{a.round}-{i:06d}".encode(), acks)
        produced += 1
        p.poll(0)
        if killed_at is None and a.kill_after < a.count and len(acks.ok) >= a.kill_after and outstanding() >= 500:
            kill()
    if killed_at is None:
        # kill_after == count (kill right after the last ack), or the acks
        # outran us: wait for enough acks, then kill.
        while len(acks.ok) < a.kill_after and outstanding() > 0:
            check(time.monotonic() < deadline, f"only {len(acks.ok)} acks of {produced} after 120s")
            p.poll(0.001)
        check(len(acks.ok) >= a.kill_after,
              f"only {len(acks.ok)} records acknowledged ({len(acks.errors)} errors: {acks.errors[:3]})")
        kill()
    # Collect the outcome of everything still outstanding (errors expected
    # unless the broker is restarted meanwhile).
    p.flush(timeout_ms / 1000 + 10)
    if a.killed_marker and os.path.exists(a.killed_marker + ".restarted"):
        restarted = os.stat(a.killed_marker + ".restarted").st_mtime
        log(f"{sum(t >= restarted for t in acks.ok_times)} acks arrived after the broker restart")
    with open(a.acked, "w") as f:
        for part, off, key, value, _ in acks.ok:
            f.write(f"{part}\t{off}\t{key.decode()}\t{value.decode()}\n")
    log(f"round {a.round}: produced {produced}, acknowledged {len(acks.ok)}, failed {len(acks.errors)}, "
        f"undecided {outstanding()} "
        f"(first error: {acks.errors[0][0] if acks.errors else None}) in {time.monotonic() - t0:.1f}s")


def do_verify(a):
    wait_topic_ready(a.bootstrap, a.topic, a.partitions, timeout=60)
    acked = []
    for path in a.files:
        with open(path) as f:
            for line in f:
                part, off, key, value = line.rstrip("\n").split("\t")
                acked.append((int(part), int(off), key.encode(), value.encode()))
    got, end = consume_all(a.bootstrap, a.topic, list(range(a.partitions)), timeout=120)
    by_off = {p: {m.offset(): m for m in msgs} for p, msgs in got.items()}
    missing = []
    for part, off, key, value in acked:
        m = by_off[part].get(off)
        if m is None or m.key() != key or m.value() != value:
            missing.append((part, off, key, value, None if m is None else (m.key(), m.value())))
    total = sum(len(v) for v in got.values())
    acked_at = {(part, off) for part, off, _, _ in acked}
    extra = sum(1 for p, msgs in got.items() for m in msgs if (p, m.offset()) not in acked_at)
    values = [m.value() for msgs in got.values() for m in msgs]
    dups = len(values) - len(set(values))
    log(f"after restart: high watermarks {end}, {total} records present, {len(acked)} acknowledged, "
        f"{len(missing)} of them missing, {extra} never-acknowledged records present, {dups} duplicate values")
    check(not missing, f"{len(missing)} acknowledged records lost or changed after kill -9; first: "
                       f"{missing[:5]} (partition, offset, key, value, found)")
    # Every value is produced once; only retries can duplicate it, and the
    # idempotent producer protocol must make the broker drop those.
    if dups:
        seen, first = set(), []
        for part, msgs in sorted(got.items()):
            for m in msgs:
                if m.value() in seen and len(first) < 5:
                    first.append((part, m.offset(), m.value()))
                seen.add(m.value())
        check(False, f"{dups} duplicate records despite enable.idempotence=true; first: {first}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("bootstrap")
    c.add_argument("topic")
    c.add_argument("partitions", type=int)
    pr = sub.add_parser("produce")
    pr.add_argument("bootstrap")
    pr.add_argument("topic")
    pr.add_argument("--pid", type=int, required=True)
    pr.add_argument("--round", type=int, required=True)
    pr.add_argument("--count", type=int, required=True)
    pr.add_argument("--kill-after", type=int, required=True)
    pr.add_argument("--acked", required=True)
    pr.add_argument("--killed-marker", help="touch this file right after the SIGKILL and keep retrying")
    v = sub.add_parser("verify")
    v.add_argument("bootstrap")
    v.add_argument("topic")
    v.add_argument("partitions", type=int)
    v.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd == "create":
        run_main("kill9 create", lambda: create_topic(a.bootstrap, a.topic, a.partitions))
    elif a.cmd == "produce":
        run_main(f"kill9 produce round {a.round}", lambda: do_produce(a))
    else:
        run_main("kill9 verify", lambda: do_verify(a))


if __name__ == "__main__":
    main()
