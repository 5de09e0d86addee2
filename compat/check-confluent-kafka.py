#!/usr/bin/env python3
"""confluent-kafka (pip wheel, bundles a current librdkafka) against the broker.

1. AdminClient creates a 3-partition topic.
2. Idempotent producer (enable.idempotence=true, acks=all) sends 10,000 keyed
   records (some with headers); every delivery report must succeed.
3. A consumer using assign() (no group membership) reads every partition from
   the beginning; per partition, offsets, order, keys, values and headers must
   equal what the delivery reports said.
4. Benchmark (informational, never fails the check): produce and consume
   N x 1 KiB records and print MB/s.

Usage: check-confluent-kafka.py BOOTSTRAP [--records 10000] [--bench-records 50000]
"""

import argparse
import os
import time

import confluent_kafka

from kcompat import Acks, check, consume_all, create_topic, log, produce, producer, run_main

PARTITIONS = 3


def client_versions():
    v = confluent_kafka.version()  # a str in 2.x, a (str, int) tuple in 1.x
    return f"confluent-kafka {v[0] if isinstance(v, tuple) else v}, librdkafka {confluent_kafka.libversion()[0]}"


def headers_for(i):
    """Every 10th record carries headers (incl. an empty value); delivery
    reports don't echo headers, so the expectation is recomputed from i."""
    return [("seq", str(i).encode()), ("empty", b"")] if i % 10 == 0 else None


def correctness(bootstrap, n):
    topic = f"ck-check-{os.getpid()}-{int(time.time())}"
    create_topic(bootstrap, topic, PARTITIONS)
    log(f"created {topic} with {PARTITIONS} partitions")

    acks = Acks()
    p = producer(bootstrap, **{"linger.ms": 5, "message.timeout.ms": 60000})
    t0 = time.monotonic()
    for i in range(n):
        key = f"key-{i % 97}".encode()
        value = f"value-{i}-".encode() + bytes([i % 256]) * (i % 300)
        produce(p, topic, key, value, acks, headers=headers_for(i))
        p.poll(0)
    remaining = p.flush(60)
    check(remaining == 0, f"{remaining} messages still in queue after flush(60)")
    check(not acks.errors, f"{len(acks.errors)} delivery errors, first: {acks.errors[:3]}")
    check(len(acks.ok) == n, f"{len(acks.ok)} delivery reports for {n} messages")
    log(f"produced {n} records in {time.monotonic() - t0:.2f}s, all acknowledged")

    # Expected content per partition in offset order, from the delivery reports.
    expected = {part: [] for part in range(PARTITIONS)}
    for part, off, key, value, _ in acks.ok:
        expected[part].append((off, key, value, headers_for(int(value.split(b"-")[1]))))
    for part in expected:
        expected[part].sort()
        offs = [e[0] for e in expected[part]]
        check(offs == list(range(len(offs))), f"partition {part}: acknowledged offsets not dense from 0")
        # Same key -> same partition, and per-key production order must be kept.
        seqs = [int(e[2].split(b"-")[1]) for e in expected[part]]
        check(seqs == sorted(seqs), f"partition {part}: offsets don't follow production order")
    keys_per_part = {}
    for part in expected:
        for e in expected[part]:
            keys_per_part.setdefault(e[1], set()).add(part)
    check(all(len(s) == 1 for s in keys_per_part.values()), "one key landed in several partitions")

    got, end = consume_all(bootstrap, topic, list(range(PARTITIONS)))
    for part in range(PARTITIONS):
        check(end[part] == len(expected[part]),
              f"partition {part}: high watermark {end[part]}, expected {len(expected[part])}")
        msgs = got[part]
        check(len(msgs) == len(expected[part]), f"partition {part}: consumed {len(msgs)}, expected {len(expected[part])}")
        for m, (off, key, value, headers) in zip(msgs, expected[part]):
            where = f"partition {part} offset {off}"
            check(m.offset() == off, f"{where}: got offset {m.offset()}")
            check(m.key() == key, f"{where}: key {m.key()!r} != {key!r}")
            check(m.value() == value, f"{where}: value {m.value()[:40]!r}... != {value[:40]!r}...")
            check(m.headers() == headers, f"{where}: headers {m.headers()} != {headers}")
    log(f"consumed and verified {n} records ({[len(got[p]) for p in range(PARTITIONS)]} per partition)")


def bench(bootstrap, n, size=1024):
    """Produce then consume n records of `size` bytes; print MB/s (1 MB = 10^6 B)."""
    topic = f"ck-bench-{os.getpid()}-{int(time.time())}"
    create_topic(bootstrap, topic, PARTITIONS)
    payload = os.urandom(size)
    acks = Acks()
    p = producer(bootstrap, **{"linger.ms": 5, "batch.size": 1000000, "message.timeout.ms": 120000})
    t0 = time.monotonic()
    for i in range(n):
        produce(p, topic, None, payload, acks, partition=i % PARTITIONS)
        if i % 1000 == 0:
            p.poll(0)
    remaining = p.flush(120)
    dt_p = time.monotonic() - t0
    check(remaining == 0 and not acks.errors and len(acks.ok) == n,
          f"bench produce: {remaining} queued, {len(acks.errors)} errors, {len(acks.ok)} acked")

    t0 = time.monotonic()
    got, _ = consume_all(bootstrap, topic, list(range(PARTITIONS)), timeout=120,
                         **{"fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760})
    dt_c = time.monotonic() - t0
    total = sum(len(v) for v in got.values())
    check(total == n, f"bench consume: got {total} of {n}")
    mb = n * size / 1e6
    log(f"BENCH {client_versions()}: "
        f"{n} x {size} B, 3 partitions, idempotent acks=all: "
        f"produce {mb / dt_p:.1f} MB/s ({n / dt_p:.0f} msg/s, {dt_p:.2f}s), "
        f"consume {mb / dt_c:.1f} MB/s ({n / dt_c:.0f} msg/s, {dt_c:.2f}s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--records", type=int, default=10000, help="0 to skip the correctness part")
    ap.add_argument("--bench-records", type=int, default=50000, help="0 to skip the benchmark")
    ap.add_argument("--bench-size", type=int, default=1024)
    args = ap.parse_args()

    def body():
        log(client_versions())
        if args.records:
            correctness(args.bootstrap, args.records)
        if args.bench_records:
            bench(args.bootstrap, args.bench_records, args.bench_size)

    run_main("check-confluent-kafka", body)


if __name__ == "__main__":
    main()
