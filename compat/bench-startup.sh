#!/usr/bin/env bash
# Startup-time benchmark (informational): a broker with N topics (P partitions each, a few
# records in every partition) is stopped and started again; prints the time from exec until
# the port accepts, and until Metadata lists every topic with a leader for every partition.
#
#   compat/bench-startup.sh                         # 100 topics x 1 partition
#   BENCH_TOPICS=100 BENCH_PARTITIONS=10 compat/bench-startup.sh
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

TOPICS="${BENCH_TOPICS:-100}"
PARTITIONS="${BENCH_PARTITIONS:-1}"

start_broker
timeout 300 "$PYTHON" - "$BOOTSTRAP" "$TOPICS" "$PARTITIONS" <<'PY'
import sys, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topics, partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
started = time.time()
futures = admin.create_topics([NewTopic(f"startup-{i}", partitions, 1) for i in range(topics)], request_timeout=120)
for f in futures.values():
    f.result()
print(f"created {topics} topics x {partitions} partitions in {time.time() - started:.2f}s")
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
for i in range(topics):
    for p in range(partitions):
        producer.produce(f"startup-{i}", b"x" * 100, partition=p)
producer.flush(60)
PY
stop_broker

started=$(date +%s.%N)
restart_broker
port_open_at=$(date +%s.%N)
timeout 120 "$PYTHON" - "$BOOTSTRAP" "$TOPICS" "$PARTITIONS" <<'PY'
import sys, time
from confluent_kafka.admin import AdminClient
bootstrap, topics, partitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
while True:
    md = admin.list_topics(timeout=10)
    ready = [t for t in md.topics.values() if t.topic.startswith("startup-") and len(t.partitions) == partitions
             and all(p.leader >= 0 and p.error is None for p in t.partitions.values())]
    if len(ready) == topics:
        break
    time.sleep(0.01)
PY
ready_at=$(date +%s.%N)
elapsed() { "$PYTHON" -c "print(f'{$1 - $started:.3f}')"; }
echo "BENCH startup topics=$TOPICS partitions=$PARTITIONS port_open_s=$(elapsed "$port_open_at") all_leaders_s=$(elapsed "$ready_at")"
stop_broker
