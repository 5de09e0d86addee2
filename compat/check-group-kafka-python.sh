#!/usr/bin/env bash
# kafka-python (pure-Python client) consumer group: KafkaConsumer with
# group_id, subscribe(), commit(); a second member of the same group resumes
# exactly after the committed offsets. See check-group-kafka-python.py.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}"
timeout 180 "$PYTHON" "$COMPAT_DIR/check-group-kafka-python.py" "$BOOTSTRAP" --records "${KP_GROUP_RECORDS:-2000}"
