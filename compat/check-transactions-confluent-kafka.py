#!/usr/bin/env python3
"""Transactions with confluent-kafka (librdkafka) against the broker.

1. A transactional producer commits 100 records, aborts 100, commits 100 more over 3
   partitions; a read_committed consumer reads exactly the 200 committed ones (in the order
   they were produced per partition), a read_uncommitted one all 300.
2. An open transaction holds read_committed consumers back (nothing of it is visible, the
   committed records before it are); once committed, it is.
3. A second producer with the same transactional.id fences the first: the first one's
   commit fails with a fatal error (_FENCED / PRODUCER_FENCED) and its records are never
   visible to read_committed consumers.
4. Consume-transform-produce: a group consumer (read_committed) reads an input topic, a
   transactional producer writes each record upper-cased to an output topic and the
   consumer's positions with send_offsets_to_transaction; every third transaction aborts
   and the consumer rewinds to its committed offsets. In the end the output holds every
   input exactly once, in order, and the group's committed offsets are the input's end.

Usage: check-transactions-confluent-kafka.py BOOTSTRAP
"""

import os
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from kcompat import check, create_topic, log, run_main

PARTITIONS = 3


def txn_producer(bootstrap, transactional_id):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": transactional_id,
        "transaction.timeout.ms": 60000,
        "linger.ms": 5,
    })
    p.init_transactions(30)
    return p


def send(p, topic, values, partition_of=lambda i: i % PARTITIONS):
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    for i, value in enumerate(values):
        p.produce(topic, key=value, value=value, partition=partition_of(i), on_delivery=report)
    p.flush(30)
    check(not errors, f"delivery errors: {errors[:3]}")


def read(bootstrap, topic, isolation, timeout=30.0):
    """Every partition from the beginning up to its end for this isolation level (the last
    stable offset for read_committed): {partition: [value, ...]}."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"unused-{os.getpid()}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": False,
    })
    try:
        # query_watermark_offsets answers the last stable offset for read_committed consumers.
        end = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
               for p in range(PARTITIONS)}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + timeout

        def behind():
            positions = c.position([TopicPartition(topic, p) for p in range(PARTITIONS)])
            return [tp.partition for tp in positions if tp.offset < end[tp.partition]]

        while behind():
            check(time.monotonic() < deadline,
                  f"{isolation}: timed out reading {topic} to {end}: got { {p: len(v) for p, v in got.items()} }")
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                if m.offset() < end[m.partition()]:
                    got[m.partition()].append(m.value().decode())
        return got, end
    finally:
        c.close()


def commit_abort(bootstrap):
    topic = f"ck-txn-{os.getpid()}"
    create_topic(bootstrap, topic, PARTITIONS)
    p = txn_producer(bootstrap, f"ck-txn-{os.getpid()}")
    batches = {"c1": True, "ab": False, "c2": True}
    for name, commit in batches.items():
        p.begin_transaction()
        send(p, topic, [f"{name}-{i}" for i in range(100)])
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    committed, end = read(bootstrap, topic, "read_committed")
    everything, _ = read(bootstrap, topic, "read_uncommitted")
    for part in range(PARTITIONS):
        want = [f"{n}-{i}" for n in ("c1", "c2") for i in range(100) if i % PARTITIONS == part]
        check(committed[part] == want, f"read_committed partition {part}: {committed[part][:5]}... "
              f"({len(committed[part])}), expected {len(want)} committed records")
        want_all = [f"{n}-{i}" for n in ("c1", "ab", "c2") for i in range(100) if i % PARTITIONS == part]
        check(everything[part] == want_all, f"read_uncommitted partition {part}: {len(everything[part])} "
              f"records, expected {len(want_all)}")
    log(f"commit, abort, commit: read_committed sees 200 records, read_uncommitted 300 (ends {end})")

    # An open transaction is invisible to read_committed consumers until it commits.
    p.begin_transaction()
    send(p, topic, [f"open-{i}" for i in range(30)])
    open_view, lso = read(bootstrap, topic, "read_committed")
    check(all(not any(v.startswith("open-") for v in vals) for vals in open_view.values()),
          "a record of an open transaction was read by a read_committed consumer")
    check(lso == end, f"the last stable offset moved while the transaction is open: {end} -> {lso}")
    p.commit_transaction(30)
    after, _ = read(bootstrap, topic, "read_committed")
    check(sum(v.startswith("open-") for vals in after.values() for v in vals) == 30,
          "the 30 records of the transaction are not all visible after its commit")
    log("an open transaction holds the last stable offset; its records appear at commit")


def fencing(bootstrap):
    topic = f"ck-fence-{os.getpid()}"
    create_topic(bootstrap, topic, PARTITIONS)
    tid = f"ck-fence-{os.getpid()}"
    first = txn_producer(bootstrap, tid)
    first.begin_transaction()
    send(first, topic, [f"zombie-{i}" for i in range(10)])
    second = txn_producer(bootstrap, tid)  # bumps the epoch: aborts and fences the first
    second.begin_transaction()
    send(second, topic, [f"fresh-{i}" for i in range(10)])
    second.commit_transaction(30)
    try:
        first.commit_transaction(30)
        check(False, "the fenced producer's commit succeeded")
    except KafkaException as e:
        error = e.args[0]
        check(error.fatal() or error.txn_requires_abort(),
              f"the fenced producer's commit failed with a retriable error: {error}")
        log(f"the fenced producer's commit fails: {error.name()} (fatal={error.fatal()})")
    committed, _ = read(bootstrap, topic, "read_committed")
    values = sorted(v for vals in committed.values() for v in vals)
    check(values == sorted(f"fresh-{i}" for i in range(10)),
          f"read_committed after fencing: {values[:12]}")
    log("a second producer with the same transactional.id fences the first; its records stay invisible")


def consume_transform_produce(bootstrap, records=3000):
    pid = os.getpid()
    source, sink, group = f"ck-ctp-in-{pid}", f"ck-ctp-out-{pid}", f"ck-ctp-{pid}"
    create_topic(bootstrap, source, PARTITIONS)
    create_topic(bootstrap, sink, PARTITIONS)
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(records):
        p.produce(source, value=f"record-{i}".encode(), partition=i % PARTITIONS)
    check(p.flush(30) == 0, "input not flushed")

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    c.subscribe([source])
    out = txn_producer(bootstrap, f"ck-ctp-{pid}")
    done = transactions = aborted = 0
    deadline = time.monotonic() + 90
    while done < records:
        check(time.monotonic() < deadline, f"consume-transform-produce: {done}/{records} after 90 s")
        batch = [m for m in c.consume(num_messages=200, timeout=1.0) if not m.error()]
        if not batch:
            continue
        out.begin_transaction()
        for m in batch:
            out.produce(sink, value=m.value().upper(), partition=m.partition())
        out.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        transactions += 1
        if transactions % 3 == 0:
            out.abort_transaction(30)
            aborted += 1
            # Back to the last committed offsets: the aborted batch is processed again.
            for tp in c.committed(c.assignment(), timeout=10):
                c.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
        else:
            out.commit_transaction(30)
            done += len(batch)
    committed = c.committed([TopicPartition(source, part) for part in range(PARTITIONS)], timeout=10)
    c.close()
    ends = {part: sum(1 for i in range(records) if i % PARTITIONS == part) for part in range(PARTITIONS)}
    check({tp.partition: tp.offset for tp in committed} == ends,
          f"group {group} committed {[(tp.partition, tp.offset) for tp in committed]}, expected {ends}")
    output, _ = read(bootstrap, sink, "read_committed")
    for part in range(PARTITIONS):
        want = [f"RECORD-{i}" for i in range(records) if i % PARTITIONS == part]
        check(output[part] == want, f"output partition {part}: {len(output[part])} records, expected "
              f"{len(want)} exactly once and in order (first {output[part][:3]})")
    log(f"consume-transform-produce: {records} records exactly once in {transactions} transactions "
        f"({aborted} aborted and redone), offsets committed with them")


def main():
    bootstrap = sys.argv[1]
    import confluent_kafka
    log(f"confluent-kafka {confluent_kafka.version()[0]}, librdkafka {confluent_kafka.libversion()[0]}")
    commit_abort(bootstrap)
    fencing(bootstrap)
    consume_transform_produce(bootstrap)


if __name__ == "__main__":
    run_main("check-transactions-confluent-kafka", main)
