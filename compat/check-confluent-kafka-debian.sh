#!/usr/bin/env bash
# Same as check-confluent-kafka.sh, but with Debian's python3-confluent-kafka
# on /usr/bin/python3, i.e. the OLD librdkafka 2.0.2 (older protocol
# versions than the pip wheel). No benchmark.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

SYS_PY=/usr/bin/python3
"$SYS_PY" -c 'import confluent_kafka' 2>/dev/null \
    || fail "Debian python3-confluent-kafka missing (scripts/install-test-deps)"

start_broker
timeout 300 "$SYS_PY" "$COMPAT_DIR/check-confluent-kafka.py" "$BOOTSTRAP" \
    --records "${CK_RECORDS:-10000}" --bench-records 0
