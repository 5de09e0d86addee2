"""A fourth broker joins a running 3-node cluster (kafka-python Admin client).

Waits until Metadata lists broker 4, creates a topic on brokers 4,1,2 by hand, writes and
reads 1,000 records through it, then moves the partition back to 1,2,3 so that broker 4 holds
nothing and can be unregistered (done by the shell with the Java Admin client).
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap = sys.argv[1]
phase = sys.argv[2]
topic = "joined"
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def brokers():
    return sorted(b.get("node_id", b.get("broker_id")) for b in admin.describe_cluster()["brokers"])


def replicas_and_leader():
    for p in admin.describe_topics([topic])[0]["partitions"]:
        return sorted(p["replica_nodes"]), p["leader_id"]
    return [], -1


def wait(what, predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            fail(f"{what} within {seconds} s")
        time.sleep(0.2)


if phase == "place":
    wait("broker 4 in Metadata", lambda: brokers() == [1, 2, 3, 4])
    admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1,
                                  replica_assignments={0: [4, 1, 2]})])
    wait("a leader on 4,1,2", lambda: replicas_and_leader()[0] == [1, 2, 4] and replicas_and_leader()[1] >= 0)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for i in range(1000):
        producer.send(topic, value=b"%05d" % i, partition=0)
    producer.flush(60)
    producer.close()
    print("OK: broker 4 joined and holds a replica")
elif phase == "move":
    tp = TopicPartition(topic, 0)
    result = admin.alter_partition_reassignments({tp: [1, 2, 3]})
    if result.get(tp) is not None:
        fail(f"moving off broker 4 refused: {result}")
    wait("the move off broker 4", lambda: replicas_and_leader()[0] == [1, 2, 3]
         and not admin.list_partition_reassignments())
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    consumer.assign([tp])
    values = [m.value for m in consumer]
    consumer.close()
    if values != [b"%05d" % i for i in range(1000)]:
        fail(f"read {len(values)} records, expected 1000 in order")
    print("OK: broker 4 handed its replica back with every record")
elif phase == "gone":
    wait("broker 4 gone from Metadata", lambda: brokers() == [1, 2, 3])
    print("OK: broker 4 unregistered")
