"""Workloads and Prometheus queries for check-prometheus.sh and bench-metrics.sh.

  exact BOOTSTRAP TOPIC N SIZE      produce N records of SIZE bytes, one record per batch, so
                                    the batch bytes the broker receives are known exactly;
                                    consume them back; then a consumer group reads a third of
                                    them and commits; print
                                    {"records": .., "bytes": .., "group": .., "lag": ..}
  bench BOOTSTRAP TOPIC N SIZE      produce N records of SIZE bytes as fast as batching
                                    allows; print {"records_per_second": .., "mb_per_second": ..}
  query PROM_URL EXPR               print the value of an instant query with one result
  queries PROM_URL FILE             run every PromQL expression of a Grafana dashboard; exit 1
                                    if Prometheus rejects one
"""

import json
import os
import sys
import time
import urllib.parse
import urllib.request

PARTITIONS = 2


def varint_size(value):
    """Bytes of a zigzag varint, as in the record format."""
    zigzag = (value << 1) ^ (value >> 63)
    size = 1
    while zigzag >= 0x80:
        zigzag >>= 7
        size += 1
    return size


def single_record_batch_bytes(value_size):
    """A magic v2 batch holding one record with a null key, no headers and deltas 0."""
    body = (1  # attributes
            + varint_size(0)  # timestamp delta
            + varint_size(0)  # offset delta
            + varint_size(-1)  # key length: null
            + varint_size(value_size) + value_size
            + varint_size(0))  # header count
    return 61 + varint_size(body) + body


def exact(bootstrap, topic, n, size):
    import kcompat
    kcompat.create_topic(bootstrap, topic, PARTITIONS)
    acks = kcompat.Acks()
    # One record per batch and no compression: every batch is single_record_batch_bytes.
    p = kcompat.producer(bootstrap, **{"linger.ms": 0, "batch.num.messages": 1,
                                       "compression.type": "none"})
    for i in range(n):
        kcompat.produce(p, topic, None, os.urandom(size), acks, partition=i % PARTITIONS)
        p.poll(0)
    remaining = p.flush(120)
    kcompat.check(remaining == 0 and not acks.errors and len(acks.ok) == n,
                  f"produce: {remaining} queued, {acks.errors[:3]} errors, {len(acks.ok)} acked")
    got, _ = kcompat.consume_all(bootstrap, topic, list(range(PARTITIONS)))
    consumed = sum(len(v) for v in got.values())
    kcompat.check(consumed == n, f"consumed {consumed} of {n}")
    group = f"{topic}-group"
    committed = consume_part_in_group(bootstrap, topic, group, n // 3)
    print(json.dumps({"records": n, "bytes": n * single_record_batch_bytes(size),
                      "group": group, "lag": n - committed}))


def consume_part_in_group(bootstrap, topic, group, count):
    """A group member reads `count` records and commits exactly what it read, on every
    partition (0 where it read none), so the group's lag is known. Returns the records
    committed."""
    from confluent_kafka import TopicPartition
    import kcompat
    c = kcompat.consumer(bootstrap, **{"group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        next_offsets = {p: 0 for p in range(PARTITIONS)}
        read = 0
        deadline = time.monotonic() + 60
        while read < count:
            kcompat.check(time.monotonic() < deadline, f"group read {read} of {count} records")
            for m in c.consume(num_messages=count - read, timeout=0.5):
                kcompat.check(not m.error(), f"group consume: {m.error()}")
                next_offsets[m.partition()] = m.offset() + 1
                read += 1
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in next_offsets.items()],
                 asynchronous=False)
        return sum(next_offsets.values())
    finally:
        c.close()


def bench(bootstrap, topic, n, size):
    import kcompat
    kcompat.create_topic(bootstrap, topic, PARTITIONS)
    payload = os.urandom(size)
    acks = kcompat.Acks()
    p = kcompat.producer(bootstrap, **{"linger.ms": 5, "batch.size": 1000000,
                                       "message.timeout.ms": 120000})
    started = time.monotonic()
    for i in range(n):
        kcompat.produce(p, topic, None, payload, acks, partition=i % PARTITIONS)
        if i % 1000 == 0:
            p.poll(0)
    remaining = p.flush(120)
    seconds = time.monotonic() - started
    kcompat.check(remaining == 0 and not acks.errors and len(acks.ok) == n,
                  f"bench: {remaining} queued, {len(acks.errors)} errors, {len(acks.ok)} acked")
    print(json.dumps({"records_per_second": round(n / seconds),
                      "mb_per_second": round(n * size / seconds / 1e6, 1)}))


def prometheus(url, expr):
    query = urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def query(url, expr):
    answer = prometheus(url, expr)
    if answer["status"] != "success":
        sys.exit(f"query {expr!r}: {answer.get('error')}")
    result = answer["data"]["result"]
    if len(result) > 1:
        sys.exit(f"query {expr!r}: {len(result)} series, expected one")
    if result:
        print(result[0]["value"][1])


def dashboard_queries(url, path):
    """Grafana's variables replaced by what they would be on a one-broker setup."""
    dashboard = json.load(open(path))
    failed = 0
    count = 0
    panels = [p for row in dashboard["panels"] for p in [row] + row.get("panels", [])]
    for panel in panels:
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$__rate_interval", "1m")
                    .replace("$instance", ".*"))
            count += 1
            answer = prometheus(url, expr)
            if answer["status"] != "success":
                failed += 1
                print(f"panel {panel['title']!r}: {answer.get('error')}", file=sys.stderr)
    print(f"{count} dashboard queries, {failed} rejected")
    sys.exit(1 if failed else 0)


def main():
    command, *args = sys.argv[1:]
    if command == "exact":
        exact(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "bench":
        bench(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "query":
        query(args[0], args[1])
    elif command == "queries":
        dashboard_queries(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
