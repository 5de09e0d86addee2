#!/usr/bin/env bash
# Kafka Streams 4.3.1 (the pinned release's kafka-streams jar) against one broker: the word count
# of compat/streams/WordCount.java, processing.guarantee=at_least_once (STREAMS_GUARANTEE=
# exactly_once_v2: see check-streams-eos.sh and "crash" below), commit.interval.ms=200,
# state.dir in $WORK. Its topology: an input topic of lines (3 partitions) -> words ->
# groupBy(word), which makes Streams create a repartition topic -> count() in the state store
# "counts", backed by a changelog topic Streams creates -> an output topic as word -> count (Long).
#   batch 1   STREAMS_LINES (default 5000) lines of a fixed text (48 distinct words);
#             the app starts; `verify` waits until the latest output value of every word is its
#             exact count and the app's group has committed the end offset of every input and
#             repartition partition; the app created APP-...-repartition (cleanup.policy=delete)
#             and APP-...-changelog (cleanup.policy=compact), each with 3 partitions
#   crash     the first half of a second batch (STREAMS_LINES / 2 lines) is produced and
#             processed (same verification over both); then the app's JVM is SIGKILLed, its
#             state.dir deleted (so its state can only come back from the changelog on the
#             broker), the second half is produced while it is down, and it is restarted: it
#             must restore records from the changelog (its log says how many), and the final
#             counts over all lines must again be exact, everything committed
# Why "exact" is a valid assertion under at_least_once: at_least_once only reprocesses records
# that were consumed but whose offsets were not committed when the app died; the counts of such
# records would be counted twice (their changelog writes may already be on the broker). Here the
# app is killed only after `verify` saw every input and repartition offset committed up to the
# end, and Streams commits offsets only after flushing its state store (changelog) and output
# records and waiting for their acks. So at the kill nothing is processed-but-uncommitted: the
# changelog holds exactly the counts of the committed input, and the restarted app resumes from
# the committed offsets over the restored counts. A broker that loses or misplaces committed
# offsets, changelog records or repartition records (or serves them wrongly on restore) gives
# wrong counts or never finishes; a real mid-batch crash could only be asserted as "counts >=
# exact", so the kill happens after part of the second batch has been processed and committed.
# Under exactly_once_v2 the crash is a real mid-run one: the app is SIGKILLed while the second
# batch (STREAMS_LINES lines) is still being produced and processed, with transactions open;
# the output is read read_committed and the counts after the restart must be exact all the same
# (aborted output never counts, committed input offsets move with their output).
# Logs: $WORK/app.log (the app, STREAMS_LOG_LEVEL=INFO: the restore counts are read from it),
# $WORK/produce-*.out, $WORK/verify-*.out; printed on failure.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

export STREAMS_GUARANTEE="${STREAMS_GUARANTEE:-at_least_once}"
LINES1="${STREAMS_LINES:-5000}"
LINES2A=$((LINES1 + LINES1 / 2))
LINES2=$((LINES1 * 2))
WAIT="${STREAMS_WAIT:-90}"
APP="wordcount-$$"
INPUT="wc-lines"
OUTPUT="wc-counts"
APP_LOG="$WORK/app.log"
APP_PID=""

# ------------------------------------------------------------------ build
# Kafka Streams is not on lib.sh's client classpath: this folder (with compat/java/Util.java)
# is compiled against all of Kafka's libs/ (connect-classpath.txt), cached by content.
CP_FILE="$JAR_DIR/connect-classpath.txt"
[[ -s "$CP_FILE" ]] || fail "no $CP_FILE; run scripts/install-test-deps"
STREAMS_CP="$(cat "$CP_FILE")"
hash="$(cat "$COMPAT_DIR"/streams/*.java "$COMPAT_DIR/java/Util.java" "$CP_FILE" | sha256sum | cut -c1-16)"
CLASSES="$KBROKER_CACHE/compat-classes/streams-$hash"
if [[ ! -f "$CLASSES/.ok" ]]; then
    log "compiling compat/streams -> $CLASSES"
    rm -rf "$CLASSES"
    mkdir -p "$CLASSES"
    timeout 300 javac -nowarn -d "$CLASSES" -cp "$STREAMS_CP" "$COMPAT_DIR"/streams/*.java "$COMPAT_DIR/java/Util.java"
    touch "$CLASSES/.ok"
fi

# wc_java MODE ARGS...: WordCount in the foreground (bounded, C1-only JVM), logging WARN.
wc_java() {
    timeout --kill-after=10 $((WAIT + 60)) java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="$COMPAT_DIR/java/log4j2.properties" -Dkbroker.log.level="${JAVA_LOG_LEVEL:-WARN}" \
        -cp "$CLASSES:$STREAMS_CP" WordCount "$@"
}

sfail() {
    if [[ -s "$APP_LOG" ]]; then
        echo "----- app log ($APP_LOG), warnings and state changes -----" >&2
        grep -E ' (WARN|ERROR) |STATE |Exception|failed' "$APP_LOG" | tail -n "${LOG_TAIL_LINES:-60}" >&2
        echo "----- end of app log -----" >&2
    fi
    fail "$@"
}

# The app runs in the background, java itself (no wrapper), so APP_PID is the JVM to SIGKILL.
start_app() {
    echo "==== start $(date +%T)" >>"$APP_LOG"
    java -Xmx512m -Dlog4j2.configurationFile="$COMPAT_DIR/java/log4j2.properties" \
        -Dkbroker.log.level="${STREAMS_LOG_LEVEL:-INFO}" \
        -cp "$CLASSES:$STREAMS_CP" WordCount run "$BOOTSTRAP" "$APP" "$INPUT" "$OUTPUT" "$WORK/state" \
        >>"$APP_LOG" 2>&1 &
    APP_PID=$!
    log "app pid=$APP_PID started"
}

stop_app() {
    [[ -n "$APP_PID" ]] || return 0
    kill -TERM "$APP_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 40))
    while kill -0 "$APP_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=""
}
on_exit stop_app

produce() {
    wc_java produce "$BOOTSTRAP" "$INPUT" "$OUTPUT" "$1" "$2" >"$WORK/produce-$1.out" 2>&1 \
        || { cat "$WORK/produce-$1.out" >&2; sfail "producing lines $1..$(($2 - 1)) failed"; }
    log "$(tail -n 1 "$WORK/produce-$1.out")"
}

# verify LINES NAME: the exact counts of lines 0..LINES-1, everything committed (WordCount verify).
verify() {
    local t0=$SECONDS
    wc_java verify "$BOOTSTRAP" "$APP" "$INPUT" "$OUTPUT" "$1" "$WAIT" >"$WORK/verify-$2.out" 2>&1 || {
        cat "$WORK/verify-$2.out" >&2
        kill -0 "$APP_PID" 2>/dev/null || log "the app (pid $APP_PID) is not running"
        sfail "$2: counts of $1 lines not exact or not committed"
    }
    kill -0 "$APP_PID" 2>/dev/null || sfail "$2: the app exited"
    grep -v ': PASS' "$WORK/verify-$2.out" | sed "s/^/[$2] /" >&2
    log "$2: verified in $((SECONDS - t0))s"
}

# ------------------------------------------------------------------ batch 1
start_broker
mkdir -p "$WORK/state"
produce 0 "$LINES1"
start_app
verify "$LINES1" batch1

# ------------------------------------------------------------------ crash
kill_app() {
    log "crash: SIGKILL to the app (pid $APP_PID), its state.dir deleted"
    kill -KILL "$APP_PID"
    wait "$APP_PID" 2>/dev/null || true
    echo "==== SIGKILLed $(date +%T)" >>"$APP_LOG"
    APP_PID=""
    rm -rf "$WORK/state"
    mkdir -p "$WORK/state"
}
if [[ "$STREAMS_GUARANTEE" == exactly_once_v2 ]]; then
    # Paced (about 3 s for the batch) so that the kill lands while lines still arrive.
    STREAMS_PRODUCE_LINES_PER_S=$((LINES1 / 3)) produce "$LINES1" "$LINES2" &
    producing=$!
    sleep "${STREAMS_KILL_AFTER:-2.5}"
    if kill -0 "$producing" 2>/dev/null; then
        log "the second batch is still being produced"
    else
        log "warning: the second batch was produced before the kill (STREAMS_KILL_AFTER too long?)"
    fi
    kill_app
    wait "$producing" || sfail "producing the second batch failed"
else
    produce "$LINES1" "$LINES2A"
    verify "$LINES2A" batch2-first-half
    kill_app
    produce "$LINES2A" "$LINES2"
fi
start_app
verify "$LINES2" after-restart
# With the state.dir gone, the counts of the first 1.5 batches can only have come from the
# changelog: the restarted app must have restored records from it.
restored="$(awk '/^==== start/ { n++ } n == 2' "$APP_LOG" \
    | sed -nE 's/.*Finished restoring changelog .* total number of ([0-9]+) records.*/\1/p' \
    | awk '{ s += $1 } END { print s + 0 }')"
((restored > 0)) || sfail "the restarted app restored no records from its changelog"
log "after-restart: the app restored $restored records from $APP-counts-changelog"

stop_app
log "PASS"
