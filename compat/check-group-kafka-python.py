#!/usr/bin/env python3
"""kafka-python (pure-Python client) consumer groups: KafkaConsumer with
group_id + subscribe(), manual commit(); a second member of the same group
resumes exactly after the committed offsets.

  1. 4-partition topic, N records (explicit partition i % 4, value names its offset)
  2. member 1 subscribes, processes the first half of every partition, commit()s
     after every poll (exactly what was processed) and closes
  3. committed() matches what member 1 committed
  4. member 2 (same group) subscribes: its first record on every partition is at
     the committed offset; it reads the rest, nothing committed is re-read, and
     the two members together read every record exactly once

Usage: check-group-kafka-python.py BOOTSTRAP [--records N]
"""

import argparse
import os
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

PARTS = 4


def fail(msg):
    sys.exit(f"check-group-kafka-python: FAIL: {msg}")


def log(msg):
    print(msg, flush=True)


def member(bootstrap, group, topic):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=30000, session_timeout_ms=10000,
                      heartbeat_interval_ms=1000)
    c.subscribe([topic])
    return c


def consume(c, topic, name, seen, committed, stop, upto=None, timeout=60.0):
    """poll/process/commit until stop() or timeout; returns first offsets per partition.
    With upto: only records below upto[p] are processed; the partition is then seeked
    back to upto[p] and paused."""
    first = {}
    deadline = time.monotonic() + timeout
    while not stop():
        if time.monotonic() > deadline:
            fail(f"{name}: timed out; assignment {sorted(tp.partition for tp in c.assignment())}, "
                 f"read {sum(len(v) for v in seen.values())}, committed {committed}")
        batch = c.poll(timeout_ms=200, max_records=100)
        offsets = {}
        for tp, recs in batch.items():
            for r in recs:
                p, o = r.partition, r.offset
                if upto is not None and o >= upto[p]:
                    c.seek(tp, upto[p])
                    c.pause(tp)
                    break
                if o < committed[p]:
                    fail(f"{name} got (p{p}, o{o}) although offset {committed[p]} was committed")
                want = f"v-{p}-{o}".encode()
                if r.value != want:
                    fail(f"{name}: (p{p}, o{o}) has value {r.value!r}, expected {want!r}")
                seen.setdefault((p, o), []).append(name)
                first.setdefault(p, o)
                offsets[tp] = OffsetAndMetadata(o + 1, "", -1)
        if offsets:
            c.commit(offsets)
            for tp, om in offsets.items():
                committed[tp.partition] = max(committed[tp.partition], om.offset)
    return first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--records", type=int, default=2000)
    a = ap.parse_args()
    t0 = time.monotonic()
    topic, group = f"kp-group-{os.getpid()}", f"kp-g-{os.getpid()}"
    log(f"kafka-python {kafka.__version__}")

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, PARTS, 1)], timeout_ms=15000)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=a.bootstrap, acks="all", linger_ms=5, retries=5)
    futs = [producer.send(topic, key=f"k{i}".encode(), value=f"v-{i % PARTS}-{i // PARTS}".encode(),
                          partition=i % PARTS) for i in range(a.records)]
    producer.flush(60)
    for i, f in enumerate(futs):
        md = f.get(timeout=60)
        if (md.partition, md.offset) != (i % PARTS, i // PARTS):
            fail(f"record {i} landed at (p{md.partition}, o{md.offset}), expected (p{i % PARTS}, o{i // PARTS})")
    producer.close(10)
    end = [(a.records + PARTS - 1 - p) // PARTS for p in range(PARTS)]
    log(f"produced {a.records} records, end offsets {end}")

    seen = {}
    committed = [0] * PARTS
    c1 = member(a.bootstrap, group, topic)
    half = [e // 2 for e in end]
    consume(c1, topic, "member1", seen, committed, lambda: committed == half, upto=half)
    log(f"member1 read {len(seen)} records and committed {committed}")
    tps = [TopicPartition(topic, p) for p in range(PARTS)]
    got = [c1.committed(tp) or 0 for tp in tps]  # None: nothing committed
    if got != committed:
        fail(f"committed() returns {got}, member1 committed {committed}")
    c1.close(autocommit=False)

    c2 = member(a.bootstrap, group, topic)
    first = consume(c2, topic, "member2", seen, committed, lambda: committed == end)
    for p in range(PARTS):
        if got[p] < end[p] and first.get(p) != got[p]:
            fail(f"member2's first record on p{p} is offset {first.get(p)}, expected the committed {got[p]}")
    c2.close(autocommit=False)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        fail(f"{len(dups)} records read twice, e.g. {list(dups.items())[:3]}")
    missing = [(p, o) for p in range(PARTS) for o in range(end[p]) if (p, o) not in seen]
    if missing:
        fail(f"{len(missing)} records never read, e.g. {missing[:5]}")
    log(f"member2 resumed at {got}; together they read all {a.records} records exactly once")
    log(f"check-group-kafka-python: PASS ({time.monotonic() - t0:.1f}s)")


if __name__ == "__main__":
    main()
