#!/usr/bin/env bash
# KafkaJS (npm kafkajs, pure JavaScript) consumer group: reads every record,
# commits, and a second run of the same group reads nothing old.
# See check-group-kafkajs.js. KAFKAJS_LOG_LEVEL=DEBUG for protocol logs.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

export NODE_PATH="$KBROKER_CACHE/node/node_modules${NODE_PATH:+:$NODE_PATH}"
export KAFKAJS_NO_PARTITIONER_WARNING=1
command -v node >/dev/null || fail "node not installed (scripts/install-test-deps)"
[[ -f "$KBROKER_CACHE/node/node_modules/kafkajs/package.json" ]] || fail "kafkajs not installed (scripts/install-test-deps)"

start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}"
timeout 180 node "$COMPAT_DIR/check-group-kafkajs.js" "$BOOTSTRAP" "${KAFKAJS_RECORDS:-2000}"
