#!/usr/bin/env bash
# kafka-python (pure-Python client): create, produce with gzip, consume with
# assign(); exact comparison. See check-kafka-python.py.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

start_broker
timeout 180 "$PYTHON" "$COMPAT_DIR/check-kafka-python.py" "$BOOTSTRAP" --records "${KP_RECORDS:-2000}"
