#!/usr/bin/env bash
# pip confluent-kafka (current librdkafka): idempotent produce of 10,000 keyed
# records, assign()-based consume with exact per-partition comparison, plus a
# 1 KiB-record throughput benchmark (see check-confluent-kafka.py).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

start_broker
timeout 300 "$PYTHON" "$COMPAT_DIR/check-confluent-kafka.py" "$BOOTSTRAP" \
    --records "${CK_RECORDS:-10000}" --bench-records "${CK_BENCH_RECORDS:-50000}"
