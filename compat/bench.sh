#!/usr/bin/env bash
# Throughput benchmark (informational, never part of run-all's pass/fail):
# 1 KiB records through confluent-kafka (librdkafka) and the Java client,
# each against a fresh broker. Prints BENCH lines.
#
#   compat/bench.sh                          # defaults
#   BENCH_RECORDS=500000 compat/bench.sh     # more records
#   BROKER_EXTRA_ARGS="--flush-policy fsync" compat/bench.sh
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

N="${BENCH_RECORDS:-200000}"
SIZE="${BENCH_SIZE:-1024}"

java_build
start_broker
log "confluent-kafka: $N x $SIZE B"
timeout 600 "$PYTHON" "$COMPAT_DIR/check-confluent-kafka.py" "$BOOTSTRAP" --records 0 \
    --bench-records "$N" --bench-size "$SIZE"
stop_broker

start_broker
log "java: $N x $SIZE B"
java_run 600 ProducerBench "$BOOTSTRAP" "$N" "$SIZE" 3 5 65536
