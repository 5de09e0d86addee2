#!/usr/bin/env python3
"""Consumer groups with confluent-kafka (current librdkafka): subscribe(),
manual commits, two members splitting a 4-partition topic, takeover at the
committed offsets, and resume after a broker restart.

  split  BOOTSTRAP TOPIC GROUP STATE [--records N] [--protocol classic|consumer]
      members A and B subscribe; their assignments (on_assign/on_revoke) must be
      disjoint and cover all 4 partitions; then N records are produced (explicit
      partition i % 4); A processes the first half of its partitions and closes; B must take
      over A's partitions exactly at A's committed offsets and read the rest. No
      committed record may be delivered twice. Then N/4 more records are produced
      and the committed offsets are written to STATE (JSON).
  resume BOOTSTRAP TOPIC GROUP STATE [--protocol ...]
      (after a broker restart) committed() returns the offsets from STATE, and a
      new member reads exactly the records after them.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition, libversion, version

import kcompat
from kcompat import CheckFailed, check, log

PARTS = 4
T0 = time.monotonic()


def ts():
    return f"+{time.monotonic() - T0:.3f}s"


class Ledger:
    """What one group has delivered and committed (shared by its members)."""

    def __init__(self, group):
        self.group = group
        self.committed = [0] * PARTS
        self.deliveries = {}
        self.violations = []
        self.uncommitted_redeliveries = 0

    def delivered(self, member, p, o, value):
        if p not in member.assignment:
            self.violations.append(f"{member.name} got (p{p}, o{o}) but owns {sorted(member.assignment)}")
        if o < self.committed[p]:
            self.violations.append(f"{member.name} got (p{p}, o{o}) although the group had committed {self.committed[p]}")
        want = f"v-{p}-{o}-"
        if not value.startswith(want.encode()):
            self.violations.append(f"{member.name}: (p{p}, o{o}) has value {value[:40]!r}, expected {want}...")
        n = self.deliveries.get((p, o), 0) + 1
        self.deliveries[(p, o)] = n
        if n > 1:
            self.uncommitted_redeliveries += 1

    def all_committed(self, end):
        return all(self.committed[p] >= end[p] for p in range(PARTS))

    def check(self):
        if self.violations:
            raise CheckFailed(f"{len(self.violations)} violation(s): {self.violations[:5]}")

    def check_complete(self, start, end):
        self.check()
        for p in range(PARTS):
            for o in range(start[p], end[p]):
                check((p, o) in self.deliveries, f"group {self.group}: (p{p}, o{o}) never delivered")
        if self.uncommitted_redeliveries:
            log(f"group {self.group}: {self.uncommitted_redeliveries} uncommitted records delivered again (legal)")


class Member:
    def __init__(self, name, bootstrap, group, topic, ledger, protocol, limit=None):
        self.name = name
        self.topic = topic
        self.ledger = ledger
        self.limit = limit
        self.processed = 0
        self.per_partition = {}
        self.commit_failures = 0
        self.assignment = set()
        self.first = {}
        self.paused = set()
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "group.protocol": protocol,
            "error_cb": lambda e: log(f"{ts()} {name}: client error: {e}"),
        }
        if protocol == "classic":
            conf["session.timeout.ms"] = 10000
        self.c = Consumer(conf)
        self.c.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost)

    def _event(self, what, parts):
        log(f"{ts()} {self.name} {what} {sorted(tp.partition for tp in parts)} -> {sorted(self.assignment)}")

    def on_assign(self, c, parts):
        self.assignment |= {tp.partition for tp in parts}
        self._event("assigned", parts)

    def on_revoke(self, c, parts):
        self.assignment -= {tp.partition for tp in parts}
        self._event("revoked", parts)

    def on_lost(self, c, parts):
        self.assignment -= {tp.partition for tp in parts}
        self._event("LOST", parts)

    def step(self, timeout=0.1):
        """One consume() call (serves rebalance callbacks); process + commit."""
        msgs = self.c.consume(num_messages=200, timeout=timeout)
        commit = {}
        rewind = {}
        for m in msgs:
            if m.error():
                raise CheckFailed(f"{self.name}: consume error {m.error()}")
            p, o = m.partition(), m.offset()
            if (self.limit is not None and self.per_partition.get(p, 0) >= self.limit) or p in rewind:
                rewind.setdefault(p, o)
                continue
            self.ledger.delivered(self, p, o, m.value())
            self.first.setdefault(p, o)
            self.processed += 1
            self.per_partition[p] = self.per_partition.get(p, 0) + 1
            commit[p] = o + 1
        # per-partition budget used up: go back to the first unprocessed record, stop fetching
        for p, o in rewind.items():
            self.c.seek(TopicPartition(self.topic, p, o))
        if self.limit is not None:
            done = [tp for tp in self.c.assignment()
                    if self.per_partition.get(tp.partition, 0) >= self.limit and tp.partition not in self.paused]
            if done:
                self.c.pause(done)
                self.paused |= {tp.partition for tp in done}
        if commit:
            try:
                self.c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in commit.items()],
                              asynchronous=False)
                for p, o in commit.items():
                    self.ledger.committed[p] = max(self.ledger.committed[p], o)
            except KafkaException as e:
                self.commit_failures += 1
                log(f"{ts()} {self.name}: commit {commit} failed (legal during a rebalance): {e}")

    def close(self):
        log(f"{ts()} {self.name}: closing (processed {self.processed}, {self.commit_failures} failed commits)")
        self.c.close()


def run_until(what, members, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            state = "; ".join(f"{m.name}: owns {sorted(m.assignment)}, processed {m.processed}, first {m.first}"
                              for m in members)
            raise CheckFailed(f"timed out after {timeout}s waiting for {what} ({state})")
        for m in members:
            m.step()


def split_complete(members):
    sets = [m.assignment for m in members]
    return all(sets) and sum(len(s) for s in sets) == PARTS and set().union(*sets) == set(range(PARTS))


def produce(bootstrap, topic, count, base, tag):
    """count records, partition i % 4; the value names the offset it must land at."""
    acks = kcompat.Acks()
    p = kcompat.producer(bootstrap)
    nxt = list(base)
    for i in range(count):
        part = i % PARTS
        kcompat.produce(p, topic, f"k{i}".encode(), f"v-{part}-{nxt[part]}-{tag}".encode(), acks, partition=part)
        nxt[part] += 1
    check(p.flush(60) == 0, "producer did not deliver everything within 60s")
    check(not acks.errors, f"delivery errors: {acks.errors[:3]}")
    for part, off, *_ in acks.ok:
        check(off < nxt[part], f"record acked at (p{part}, o{off}), beyond the expected end {nxt[part]}")
    log(f"{ts()} produced {count} records, end offsets {nxt}")
    return nxt


def split(a):
    v = version()
    log(f"confluent-kafka {v[0] if isinstance(v, tuple) else v}, librdkafka {libversion()[0]}, "
        f"group.protocol={a.protocol}")
    kcompat.create_topic(a.bootstrap, a.topic, PARTS)
    g = Ledger(a.group)
    half = a.records // PARTS // 2  # A reads only the first half of each of its partitions
    A = Member("A", a.bootstrap, a.group, a.topic, g, a.protocol, limit=half)
    run_until("A to own all partitions", [A], lambda: len(A.assignment) == PARTS)
    B = Member("B", a.bootstrap, a.group, a.topic, g, a.protocol)
    t = time.monotonic()
    run_until("A and B to split the partitions", [A, B], lambda: split_complete([A, B]))
    a_parts, b_parts = set(A.assignment), set(B.assignment)
    log(f"{ts()} split after {(time.monotonic() - t) * 1000:.0f} ms: A={sorted(a_parts)} B={sorted(b_parts)}")

    end = produce(a.bootstrap, a.topic, a.records, [0] * PARTS, "a")
    run_until("A to process half of its partitions and B to commit its partitions", [A, B],
              lambda: all(A.per_partition.get(p, 0) >= half for p in a_parts)
              and all(g.committed[p] >= end[p] for p in b_parts))
    check(A.assignment == a_parts and B.assignment == b_parts,
          f"assignment changed while consuming: A={A.assignment} B={B.assignment}")
    g.check()
    a_committed = {p: g.committed[p] for p in a_parts}
    log(f"{ts()} A processed {A.processed}, committed {a_committed}; closing A")
    A.close()
    run_until("B to own all partitions and commit everything", [B],
              lambda: len(B.assignment) == PARTS and g.all_committed(end))
    for p, off in a_committed.items():
        check(off == half, f"A committed {off} on p{p}, expected {half} (what it processed)")
        if off < end[p]:
            check(B.first.get(p) == off,
                  f"B's first record on A's partition {p} is offset {B.first.get(p)}, expected A's committed {off}")
    g.check_complete([0] * PARTS, end)
    log(f"{ts()} B took over at A's committed offsets {a_committed}; all {a.records} records read, "
        f"no committed record twice")
    B.close()

    end2 = produce(a.bootstrap, a.topic, a.records // 4, end, "b")
    with open(a.state, "w") as f:
        json.dump({"committed": g.committed, "end": end2}, f)


def resume(a):
    with open(a.state) as f:
        st = json.load(f)
    committed, end = st["committed"], st["end"]
    kcompat.wait_topic_ready(a.bootstrap, a.topic, PARTS)
    probe = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group, "enable.auto.commit": False})
    got = probe.committed([TopicPartition(a.topic, p) for p in range(PARTS)], timeout=30)
    probe.close()
    offs = [tp.offset for tp in sorted(got, key=lambda tp: tp.partition)]
    check(offs == committed, f"after restart: committed offsets {offs}, expected {committed}")
    log(f"{ts()} after restart: committed offsets {offs}")
    g = Ledger(a.group)
    g.committed = list(committed)
    D = Member("D", a.bootstrap, a.group, a.topic, g, a.protocol)
    run_until("D to read and commit up to the end", [D], lambda: g.all_committed(end))
    for p in range(PARTS):
        if committed[p] < end[p]:
            check(D.first.get(p) == committed[p],
                  f"D's first record on p{p} is offset {D.first.get(p)}, expected the committed {committed[p]}")
    g.check_complete(committed, end)
    D.close()
    log(f"{ts()} D resumed at {committed} and read up to {end}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["split", "resume"])
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("group")
    ap.add_argument("state")
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--protocol", default="classic", choices=["classic", "consumer"])
    a = ap.parse_args()
    kcompat.run_main(f"check-group-confluent-kafka {a.mode}", lambda: split(a) if a.mode == "split" else resume(a))


if __name__ == "__main__":
    main()
