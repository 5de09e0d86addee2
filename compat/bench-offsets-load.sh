#!/usr/bin/env bash
# The group coordinator's load at startup after many offset commits (issue 18): BENCH_COMMITS
# (1,000,000) commits over BENCH_GROUPS (100) groups (java/CommitFlood.java), then, when
# BENCH_WAIT_COMPACTION is set, time for the cleaner to compact __consumer_offsets, then a clean
# restart; prints how long the load of every __consumer_offsets partition took (the broker's
# "loaded consumer groups" lines) and the records it replayed. A measurement, never pass/fail:
# run it with BROKER_BIN of two builds to compare. The broker runs with
# offsets.topic.segment.bytes=BENCH_SEGMENT_BYTES (1 MiB: the active segment, which the
# cleaner never touches, is what a load replays besides the live groups' records).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker

COMMITS="${BENCH_COMMITS:-1000000}"
GROUPS_COUNT="${BENCH_GROUPS:-100}"
export KAFKA_OFFSETS_TOPIC_SEGMENT_BYTES="${BENCH_SEGMENT_BYTES:-1048576}"
export KAFKA_LOG_CLEANER_BACKOFF_MS=1000 KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS=1000

java_build
start_broker
java_run 1800 CommitFlood "$BOOTSTRAP" "flood-$$" "$GROUPS_COUNT" "$COMMITS" >&2 \
    || fail "committing"
if [[ -n "${BENCH_WAIT_COMPACTION:-}" ]]; then
    log "waiting ${BENCH_WAIT_COMPACTION}s for the cleaner"
    sleep "$BENCH_WAIT_COMPACTION"
fi
log "data dir before the restart: $(du -sb "$BROKER_DATA_DIR" | cut -f1) bytes"
stop_broker
from=$(wc -l <"$BROKER_LOG")
started=$(date +%s.%N)
restart_broker
deadline=$((SECONDS + 300))
until (($(tail -n +"$from" "$BROKER_LOG" | grep -c "loaded consumer groups") >= 16)); do
    ((SECONDS < deadline)) || fail "not every __consumer_offsets partition loaded within 300 s"
    sleep 0.2
done
loaded=$(date +%s.%N)
tail -n +"$from" "$BROKER_LOG" | grep "loaded consumer groups" | python3 -c '
import re, sys
records = elapsed = 0
for line in sys.stdin:
    records += int(re.search(r"records=(\d+)", line).group(1))
    m = re.search(r"elapsed_ms=(\d+)", line)
    elapsed += int(m.group(1)) if m else 0
print(f"replayed {records} records, load time summed over partitions {elapsed} ms (0: not logged by this build)")
' >&2
log "BENCH offsets-load commits=$COMMITS groups=$GROUPS_COUNT: restart to every partition loaded $(python3 -c "print(round($loaded - $started, 2))") s"
