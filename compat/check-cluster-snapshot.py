"""Catch-up from a snapshot after retention purged the log (kafka-python), in steps the shell
script (check-cluster-snapshot.sh) runs between its node faults:

  create TOPIC [BROKER]     a 1-partition topic, replication factor 3 (or on BROKER alone)
  fill TOPIC N CUT          N records (acks=all), then DeleteRecords before offset CUT
  write TOPIC               one more record (acks=all)
  move TOPIC B1,B2          AlterPartitionReassignments to B1,B2; waits until done
  verify TOPIC N CUT LEADER the earliest offset is CUT and records CUT..N-1 (plus the ones
                            `write` added) read back in order from LEADER, which must lead
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError

bootstrap, step, topic = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
tp = TopicPartition(topic, 0)
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def placement(deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for p in admin.describe_topics([topic])[0]["partitions"]:
            if p["partition_index"] == 0 and p["leader_id"] >= 0:
                return sorted(p["replica_nodes"]), p["leader_id"]
        time.sleep(0.1)
    fail(f"{topic}-0 has no leader")


def producer():
    # Small batches, so that DeleteRecords drops whole batches and the log gets purged.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=20,
                         batch_size=1024)


if step == "create":
    if args:
        admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1,
                                      replica_assignments={0: [int(args[0])]})])
    else:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])
    print("created", topic, placement())
elif step == "fill":
    records, cut = int(args[0]), int(args[1])
    p = producer()
    for i in range(records):
        p.send(topic, value=b"%06d" % i, partition=0)
    p.flush(60)
    p.close()
    # kafka-python's admin asks any known broker for metadata, the killed one included, and
    # does not retry a refused connection itself.
    deadline = time.monotonic() + 30
    while True:
        try:
            result = admin.delete_records({tp: cut})
            break
        except KafkaConnectionError as error:
            if time.monotonic() > deadline:
                fail(f"DeleteRecords: {error}")
            time.sleep(0.5)
    if result[tp]["low_watermark"] != cut:
        fail(f"DeleteRecords answered {result}")
    print(f"{records} records written, log start moved to {cut}")
elif step == "write":
    p = producer()
    p.send(topic, value=b"extra", partition=0).get(timeout=60)
    p.close()
elif step == "move":
    target = [int(b) for b in args[0].split(",")]
    started = time.monotonic()
    result = admin.alter_partition_reassignments({tp: target})
    if result.get(tp) is not None:
        fail(f"reassignment refused: {result}")
    deadline = time.monotonic() + 60
    while True:
        ongoing = admin.list_partition_reassignments()
        replicas, leader = placement()
        if not ongoing and replicas == sorted(target) and leader in target:
            break
        if time.monotonic() > deadline:
            fail(f"reassignment not done in 60 s: ongoing {ongoing}, replicas {replicas}")
        time.sleep(0.2)
    print(f"moved to {target} in {int((time.monotonic() - started) * 1000)} ms, leader {leader}")
elif step == "verify":
    records, cut, expected_leader = int(args[0]), int(args[1]), int(args[2])
    _, leader = placement()
    if leader != expected_leader:
        fail(f"leader is {leader}, expected {expected_leader}")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    consumer.assign([tp])
    earliest = consumer.beginning_offsets([tp])[tp]
    if earliest != cut:
        fail(f"earliest offset {earliest}, expected {cut}")
    got = [(m.offset, m.value) for m in consumer]
    consumer.close()
    kept = [(i, b"%06d" % i) for i in range(cut, records)]
    if got[:len(kept)] != kept:
        fail(f"read {len(got)} records from offset {got[0][0] if got else None}; "
             f"expected offsets {cut}..{records - 1} in order first")
    extra = got[len(kept):]
    if any(value != b"extra" for _, value in extra):
        fail(f"unexpected records after the retained ones: {extra[:3]}")
    print(f"OK: broker {leader} serves offsets {cut}..{records - 1} and {len(extra)} later records")
else:
    fail(f"unknown step {step}")
