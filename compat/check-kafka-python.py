#!/usr/bin/env python3
"""kafka-python (pure-Python protocol implementation, independent of
librdkafka and the Java client): admin create, produce (acks=all, gzip) and
assign()-based consume with exact comparison.

Usage: check-kafka-python.py BOOTSTRAP [--records 2000]
"""

import argparse
import os
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

PARTITIONS = 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--records", type=int, default=2000)
    a = ap.parse_args()
    t0 = time.monotonic()
    topic = f"kp-check-{os.getpid()}"
    print(f"kafka-python {kafka.__version__}", flush=True)

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=15000)
    admin.close()

    producer = KafkaProducer(bootstrap_servers=a.bootstrap, acks="all", compression_type="gzip",
                             linger_ms=5, request_timeout_ms=15000, retries=5)
    futures = []
    for i in range(a.records):
        key = None if i % 9 == 4 else f"k{i % 13}".encode()
        value = f"kp-{i}-".encode() + b"x" * (i % 500)
        headers = [("i", str(i).encode())] if i % 4 == 0 else []
        futures.append((key, value, headers, producer.send(topic, key=key, value=value, headers=headers)))
    producer.flush(60)
    expected = {}
    for key, value, headers, f in futures:
        md = f.get(timeout=60)
        expected[(md.partition, md.offset)] = (key, value, headers)
    producer.close(10)
    print(f"produced {len(expected)} records", flush=True)

    consumer = KafkaConsumer(bootstrap_servers=a.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=30000)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    got = {}
    deadline = time.monotonic() + 60
    while any(consumer.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            sys.exit(f"check-kafka-python: FAIL: timeout; got {len(got)} of {len(expected)}, end {end}")
        for tp, recs in consumer.poll(timeout_ms=500).items():
            for r in recs:
                got[(r.partition, r.offset)] = (r.key, r.value, [(h[0], h[1]) for h in r.headers])
    consumer.close()

    if sum(end.values()) != len(expected):
        sys.exit(f"check-kafka-python: FAIL: end offsets {end} for {len(expected)} records")
    for where, want in expected.items():
        if got.get(where) != want:
            sys.exit(f"check-kafka-python: FAIL: at (partition, offset) {where}: got {got.get(where)!r:.120}, "
                     f"expected {want!r:.120}")
    if len(got) != len(expected):
        sys.exit(f"check-kafka-python: FAIL: consumed {len(got)} records, expected {len(expected)}")
    print(f"check-kafka-python: PASS ({len(got)} records verified, {time.monotonic() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
