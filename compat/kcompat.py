"""Shared helpers for the Python (confluent-kafka) compat checks.

Consumers here use assign() with explicit offsets only: consumer groups are
not implemented by the broker yet. confluent-kafka insists on a group.id even
for assign(), so we set a throwaway one and never subscribe or commit.
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def log(msg):
    print(msg, flush=True)


class CheckFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def run_main(name, fn):
    """Run fn(); print PASS/FAIL and exit with a proper status."""
    t0 = time.monotonic()
    try:
        fn()
    except CheckFailed as e:
        print(f"{name}: FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KafkaException as e:
        print(f"{name}: FAIL: client error: {e!r}", file=sys.stderr, flush=True)
        sys.exit(1)
    log(f"{name}: PASS ({time.monotonic() - t0:.1f}s)")


def create_topic(bootstrap, name, partitions, timeout=30.0):
    """Create a topic with the AdminClient and wait until it is usable."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                               request_timeout=15, operation_timeout=15)
    futs[name].result(timeout=timeout)
    wait_topic_ready(bootstrap, name, partitions, timeout, admin)


def wait_topic_ready(bootstrap, name, partitions, timeout=30.0, admin=None):
    """Wait until metadata shows a leader for every partition, so producers
    and consumers don't race topic creation or broker restart."""
    admin = admin or AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        t = None
        try:
            t = admin.list_topics(topic=name, timeout=10).topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions and all(
                    p.leader >= 0 and p.error is None for p in t.partitions.values()):
                return
        except KafkaException as e:
            t = e
        check(time.monotonic() < deadline,
              f"topic {name} not ready {timeout}s after creation/restart: {t and getattr(t, 'error', t)} "
              f"{getattr(t, 'partitions', '')}")
        time.sleep(0.2)


def consumer(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "kbroker-compat-unused",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
    }
    conf.update(extra)
    return Consumer(conf)


def high_watermarks(c, topic, partitions, timeout=10.0):
    return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in partitions}


def consume_all(bootstrap, topic, partitions, timeout=60.0, **extra):
    """Read partitions [0..n) from the beginning up to their current high
    watermark with assign(). Returns {partition: [Message, ...]}."""
    c = consumer(bootstrap, **extra)
    try:
        end = high_watermarks(c, topic, partitions)
        got = {p: [] for p in partitions}
        todo = {p for p in partitions if end[p] > 0}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while todo:
            check(time.monotonic() < deadline,
                  f"timed out consuming {topic}: got { {p: len(v) for p, v in got.items()} }, end {end}")
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    raise CheckFailed(f"consume error on {topic}: {m.error()}")
                p = m.partition()
                if p in todo:
                    got[p].append(m)
                    if m.offset() + 1 >= end[p]:
                        todo.discard(p)
        return got, end
    finally:
        c.close()


class Acks:
    """Delivery-report collector: every acknowledged record, and every error."""

    def __init__(self):
        self.ok = []  # (partition, offset, key, value, headers)
        self.ok_times = []  # wall-clock time each ack was seen
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((err, msg.key(), msg.value()))
        else:
            self.ok.append((msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers()))
            self.ok_times.append(time.time())


def produce(p, topic, key, value, acks, headers=None, partition=None):
    """produce() that waits for queue space instead of failing on BufferError."""
    kwargs = {"key": key, "value": value, "on_delivery": acks}
    if headers:
        kwargs["headers"] = headers
    if partition is not None:
        kwargs["partition"] = partition
    while True:
        try:
            p.produce(topic, **kwargs)
            return
        except BufferError:
            p.poll(0.05)


def producer(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"}
    conf.update(extra)
    return Producer(conf)
