#!/usr/bin/env bash
# Consumer groups with pip confluent-kafka (current librdkafka): subscribe(),
# commits after processing, two members split a 4-partition topic, one
# leaves and the other continues at its committed offsets, and after a broker
# restart a new member resumes at the committed offsets.
# CK_GROUP_PROTOCOL=consumer runs the same with KIP-848 (group.protocol=consumer).
# See check-group-confluent-kafka.py.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

PROTOCOL="${CK_GROUP_PROTOCOL:-classic}"
TOPIC="ck-group-$$"
GROUP="ck-g-$$"
PY="$COMPAT_DIR/check-group-confluent-kafka.py"

start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}"
[[ "$PROTOCOL" != consumer ]] || require_apis 68:ConsumerGroupHeartbeat
timeout 180 "$PYTHON" "$PY" split "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/state.json" \
    --records "${CK_GROUP_RECORDS:-4000}" --protocol "$PROTOCOL"
log "restarting the broker"
restart_broker
timeout 120 "$PYTHON" "$PY" resume "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/state.json" --protocol "$PROTOCOL"
log "PASS"
