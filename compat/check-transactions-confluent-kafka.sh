#!/usr/bin/env bash
# Transactions with confluent-kafka (librdkafka), one node: commit and abort seen by
# read_committed and read_uncommitted consumers, an open transaction holding the last stable
# offset, fencing by a second producer with the same transactional.id, and a
# consume-transform-produce loop with send_offsets_to_transaction (every third transaction
# aborted and redone) writing each input exactly once (check-transactions-confluent-kafka.py).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

start_broker
timeout 300 "$PYTHON" "$COMPAT_DIR/check-transactions-confluent-kafka.py" "$BOOTSTRAP"
log "PASS"
