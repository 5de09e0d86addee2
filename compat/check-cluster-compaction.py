"""Compaction on a 3-node cluster (kafka-python), in steps check-cluster-compaction.sh runs:

  create TOPIC                 1 partition, replication factor 3, cleanup.policy=compact,
                               segment.ms 2 s, min.cleanable.dirty.ratio 0.01
  fill TOPIC KEYS UPDATES      UPDATES rounds of KEYS keys and a tombstone for every tenth key
                               (acks=all), then after segment.ms one more record so the rest
                               leaves the active segment; prints that record's offset
  wait TOPIC UPTO KEYS         until a read from the beginning gives one record per key below
                               UPTO (the leader compacted)
  write TOPIC                  one more record (acks=all; make_leader's write)
  dump TOPIC UPTO LEADER OUT   LEADER must lead; every record below UPTO as
                               "offset key value" lines into OUT
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap, step, topic = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
tp = TopicPartition(topic, 0)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def producer():
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=20)


def read(upto):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    deadline = time.monotonic() + 30
    while consumer.position(tp) < upto:
        if time.monotonic() > deadline:
            fail(f"reading {topic} to offset {upto} took over 30 s")
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend((m.offset, m.key, m.value) for m in batch if m.offset < upto)
    consumer.close()
    return records


if step == "create":
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3, topic_configs={
        "cleanup.policy": "compact", "segment.ms": "2000", "min.cleanable.dirty.ratio": "0.01"})])
elif step == "fill":
    keys, updates = int(args[0]), int(args[1])
    p = producer()
    for round_ in range(updates):
        for key in range(keys):
            p.send(topic, key=b"key-%d" % key, value=b"value-%d-%d" % (key, round_), partition=0)
    for key in range(0, keys, 10):
        p.send(topic, key=b"key-%d" % key, value=None, partition=0)
    p.flush(60)
    time.sleep(2.5)
    print(p.send(topic, key=b"roll", value=b"roll", partition=0).get(timeout=60).offset)
    p.close()
elif step == "wait":
    upto, keys = int(args[0]), int(args[1])
    deadline = time.monotonic() + 60
    while len(read(upto)) != keys:
        if time.monotonic() > deadline:
            fail(f"{topic} not compacted to one record per key within 60 s")
        time.sleep(1)
elif step == "write":
    p = producer()
    p.send(topic, key=b"extra", value=b"extra", partition=0).get(timeout=60)
    p.close()
elif step == "dump":
    upto, leader, out = int(args[0]), int(args[1]), args[2]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    described = [p for p in admin.describe_topics([topic])[0]["partitions"] if p["partition_index"] == 0]
    if described[0]["leader_id"] != leader:
        fail(f"leader is {described[0]['leader_id']}, expected {leader}")
    records = read(upto)
    with open(out, "w") as f:
        for offset, key, value in records:
            f.write(f"{offset} {key!r} {value!r}\n")
    print(f"broker {leader}: {len(records)} records below offset {upto}")
else:
    fail(f"unknown step {step}")
