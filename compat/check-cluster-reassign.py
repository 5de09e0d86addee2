"""Partition reassignment and growth on a 3-node cluster, with kafka-python's Admin client.

1. A topic placed by hand on broker 1 alone gets 2,000 records (acks=all).
2. AlterPartitionReassignments moves it to brokers 2 and 3: the leader adds them as Raft
   learners, makes them the voters, and the move ends (ListPartitionReassignments empty,
   Metadata replicas [2, 3]). Every record is still there, in order, read from the new leader.
3. Writes keep working; cancelling with nothing in progress is NO_REASSIGNMENT_IN_PROGRESS;
   an unknown broker is INVALID_REPLICA_ASSIGNMENT.
4. CreatePartitions adds a partition with the topic's replication factor.
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions, NewTopic

bootstrap = sys.argv[1]
topic = "moving"
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def partition_replicas(index):
    for _ in range(100):
        described = admin.describe_topics([topic])[0]
        for p in described["partitions"]:
            if p["partition_index"] == index and p["leader_id"] >= 0:
                return sorted(p["replica_nodes"]), p["leader_id"]
        time.sleep(0.1)
    fail(f"partition {index} has no leader")


admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1, replica_assignments={0: [1]})])
replicas, leader = partition_replicas(0)
if replicas != [1]:
    fail(f"created on {replicas}, asked for [1]")

records = 2000
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
for i in range(records):
    producer.send(topic, value=b"%06d" % i, partition=0)
producer.flush(60)

tp = TopicPartition(topic, 0)
started = time.monotonic()
result = admin.alter_partition_reassignments({tp: [2, 3]})
if result.get(tp) is not None:
    fail(f"reassignment refused: {result}")
deadline = time.monotonic() + 60
while True:
    ongoing = admin.list_partition_reassignments()
    replicas, leader = partition_replicas(0)
    # The old leader steps down once the new voters commit; 2 or 3 is elected.
    if not ongoing and replicas == [2, 3] and leader in (2, 3):
        break
    if time.monotonic() > deadline:
        fail(f"reassignment not done in 60 s: ongoing {ongoing}, replicas {replicas}")
    time.sleep(0.2)
print(f"REASSIGN_MS={int((time.monotonic() - started) * 1000)} leader={leader}")

producer.send(topic, value=b"after", partition=0).get(timeout=60)
producer.close()

consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=10000)
consumer.assign([tp])
values = [m.value for m in consumer]
consumer.close()
expected = [b"%06d" % i for i in range(records)] + [b"after"]
if values != expected:
    fail(f"read {len(values)} records after the move, expected {len(expected)} in order")

result = admin.alter_partition_reassignments({tp: None})
if result.get(tp) is None or "NoReassignmentInProgress" not in result[tp].__name__:
    fail(f"cancelling nothing answered {result}")
result = admin.alter_partition_reassignments({tp: [1, 9]})
if result.get(tp) is None or "InvalidReplicationAssignment" not in result[tp].__name__:
    fail(f"an unknown broker answered {result}")

admin.create_partitions({topic: NewPartitions(total_count=2)})
replicas, _ = partition_replicas(1)
if len(replicas) != 2:
    fail(f"new partition has replicas {replicas}, expected the topic's factor 2")
print("OK: moved 2,000 records from broker 1 to brokers 2,3 without loss; new partition on", replicas)
