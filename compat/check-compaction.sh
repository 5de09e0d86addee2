#!/usr/bin/env bash
# Log compaction (issue 18), single node, the official Java client (java/CompactionCheck.java):
# a topic with cleanup.policy=compact gets COMPACTION_KEYS keys (10,000) each updated
# COMPACTION_UPDATES times (100) plus tombstones for a tenth of them. After compaction a
# consumer from the beginning reads exactly one record per key with its latest value, offsets
# strictly increasing with gaps, a fetch inside a removed range answers the next record, the
# log start offset stays 0; delete.retention.ms after the first pass the tombstones are gone.
# The partitions' size and the data dir's bytes on disk must fall (printed as a BENCH line).
# Small settings keep it short: segment.ms 3 s, delete.retention.ms 5 s, the cleaner every
# 500 ms (log.cleaner.backoff.ms), purges every second (log.retention.check.interval.ms).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

KEYS="${COMPACTION_KEYS:-10000}"
UPDATES="${COMPACTION_UPDATES:-100}"

java_build
export KAFKA_LOG_CLEANER_BACKOFF_MS=500 KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS=1000
start_broker
java_run 170 CompactionCheck "$BOOTSTRAP" "compacted-$$" "$KEYS" "$UPDATES" "$BROKER_DATA_DIR" 3000 5000 \
    >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out" >&2; fail "compaction check"; }
cat "$WORK/check.out" >&2
log "PASS"
