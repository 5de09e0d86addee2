#!/usr/bin/env bash
# Kafka Connect 4.3.1 in distributed mode (org.apache.kafka.connect.cli.ConnectDistributed from
# the pinned release, run by compat/kafka connect-distributed) against one broker; everything
# through the worker's REST API (curl), as an operator would do it:
#   topics    the worker creates its config, offset and status topics itself (1, 5 and 3
#             partitions, replication factor 1, and segment.ms=2000 and
#             min.cleanable.dirty.ratio=0.01 from the worker's *.storage.* settings, so that
#             compaction has closed segments to clean in this short run): kafka-topics --describe
#             shows them with those partition counts, cleanup.policy=compact and segment.ms=2000
#   pipeline  FileStreamSource (a file of CONNECT_LINES distinct lines, default 2000) -> a topic
#             the worker creates (topic.creation.default.*, 1 partition, so order is kept) ->
#             FileStreamSink -> an output file, which must become exactly the source file
#   restart   the worker is stopped (SIGTERM) and CONNECT_MORE_LINES (500) lines are appended;
#             a new worker resumes the source at its committed file position and the sink at
#             its consumer group's committed offset: the output is again exactly the source
#             file, nothing lost, nothing twice
#   pause     PUT /connectors/sink/pause: connector and task report PAUSED; 300 lines appended
#             reach the topic (kcat sees the end offset grow) but not the output file; PUT
#             .../resume: RUNNING again and they arrive. Then GET .../offsets of both
#             connectors: the sink's committed offset is the topic's end, the source's committed
#             position is the file size in bytes
#   compacted the broker's cleaner removes superseded records (gaps in the offsets kcat reads)
#             from connect-configs and connect-status (the pause and resume rewrote their
#             target-state and status keys); then the worker is restarted on the compacted
#             topics: both connectors come back RUNNING with the same committed positions, and
#             lines appended since reach the sink exactly once
#   delete    DELETE /connectors/source: gone from GET /connectors, then its status is 404; lines
#             appended afterwards reach neither the topic nor the sink
# The worker's log is $WORK/worker.log (its tail is printed on failure). Every wait is bounded
# (CONNECT_WAIT seconds, default 90); the worker is stopped by PID on exit.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

N="${CONNECT_LINES:-2000}"
M="${CONNECT_MORE_LINES:-500}"
K=300
WAIT="${CONNECT_WAIT:-90}"
TOPIC="connect-lines"
SRC="$WORK/source.txt"
SINK="$WORK/sink.txt"
WORKER_LOG="$WORK/worker.log"
WORKER_PID=""

# ------------------------------------------------------------------ helpers
cfail() {
    if [[ -s "$WORKER_LOG" ]]; then
        echo "----- worker log tail ($WORKER_LOG) -----" >&2
        grep -v -E ' (DEBUG|TRACE) ' "$WORKER_LOG" | tail -n "${LOG_TAIL_LINES:-60}" >&2
        echo "----- end of worker log -----" >&2
    fi
    fail "$@"
}

worker_alive() { [[ -n "$WORKER_PID" ]] && kill -0 "$WORKER_PID" 2>/dev/null; }

# wait_until SECONDS WHAT COMMAND...: until COMMAND succeeds; fails the check after SECONDS or
# when the worker dies.
wait_until() {
    local secs=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@"; do
        worker_alive || cfail "the worker exited while waiting for $what"
        ((SECONDS < deadline)) || cfail "no $what within ${secs}s"
        sleep 0.5
    done
}

# rest METHOD PATH [JSON]: the worker's REST API; HTTP status in CODE, body in BODY.
rest() {
    local out="$WORK/rest.out"
    CODE="$(curl -s -o "$out" -w '%{http_code}' -m 30 -X "$1" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$REST$2")" || CODE=000
    BODY="$(cat "$out" 2>/dev/null)"
}

# json EXPR: EXPR (Python, over the parsed body d) of the last REST answer.
json() {
    "$PYTHON" -c 'import json, sys; d = json.loads(sys.argv[2]); print(eval(sys.argv[1]))' "$1" "$BODY"
}

start_worker() {
    local from
    touch "$WORKER_LOG"
    from=$(wc -l <"$WORKER_LOG")
    echo "==== start $(date +%T)" >>"$WORKER_LOG"
    "$COMPAT_DIR/kafka" connect-distributed "$WORK/worker.properties" >>"$WORKER_LOG" 2>&1 &
    WORKER_PID=$!
    local t0=$SECONDS
    # Ready once the REST server answers and the worker has joined its group (it logs the
    # assignment it got from the leader, itself).
    worker_ready() {
        rest GET / && [[ $CODE == 200 ]] \
            && tail -n "+$((from + 1))" "$WORKER_LOG" | grep -q 'Joined group at generation'
    }
    wait_until "$WAIT" "running worker (REST on $REST)" worker_ready
    log "worker pid=$WORKER_PID ready in $((SECONDS - t0))s: $(json 'd["version"]')"
}

# SIGTERM, then a bounded wait for a clean exit (the worker commits source offsets and sink
# consumer offsets while it stops; that is what the restart relies on).
stop_worker() {
    worker_alive || { WORKER_PID=""; return 0; }
    local deadline=$((SECONDS + 60)) rc=0
    kill -TERM "$WORKER_PID" 2>/dev/null || true
    while worker_alive && ((SECONDS < deadline)); do sleep 0.2; done
    if worker_alive; then
        kill -KILL "$WORKER_PID" 2>/dev/null || true
        wait "$WORKER_PID" 2>/dev/null || true
        WORKER_PID=""
        return 1
    fi
    wait "$WORKER_PID" 2>/dev/null || rc=$?
    echo "==== exited $(date +%T) status=$rc" >>"$WORKER_LOG"
    WORKER_PID=""
}
on_exit 'stop_worker || log "the worker needed SIGKILL"'

# append FROM TO: source lines FROM..TO (distinct, with some text around the number).
append() {
    seq "$1" "$2" | awk '{ printf "line %06d: the quick brown fox %d jumps over %x\n", $1, $1 * 7, $1 }' >>"$SRC"
}

lines() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }

# sink_equals_source WHAT: wait until the sink file has as many lines as the source file, give
# late duplicates 2 s to show up, then the two files must be identical.
sink_equals_source() {
    local want
    want=$(lines "$SRC")
    sink_has() { (($(lines "$SINK") >= want)); }
    wait_until "$WAIT" "$want lines in the sink file ($1)" sink_has
    sleep 2
    if ! cmp -s "$SRC" "$SINK"; then
        diff "$SRC" "$SINK" | head -n 20 >&2
        cfail "$1: the sink file ($(lines "$SINK") lines) is not the source file ($want lines)"
    fi
    log "$1: the sink file is exactly the $want source lines"
}

# status NAME: "CONNECTOR_STATE TASK_STATES" of a connector, e.g. "RUNNING RUNNING".
status() {
    rest GET "/connectors/$1/status"
    [[ $CODE == 200 ]] || { echo "HTTP-$CODE"; return; }
    json '" ".join([d["connector"]["state"]] + [t["state"] for t in d["tasks"]])'
}
status_is() { [[ "$(status "$1")" == "$2" ]]; }

# The topic's end offset (it has one partition), via kcat.
topic_end() {
    timeout 30 kcat -b "$BOOTSTRAP" -Q -t "$TOPIC:0:-1" 2>/dev/null | sed -nE 's/.* offset (-?[0-9]+).*/\1/p'
}

# ------------------------------------------------------------------ setup
start_broker
REST_PORT="$(free_port)"
REST="http://127.0.0.1:$REST_PORT"
# FileStream connectors are in connect-file, on the classpath (compat/kafka puts all of Kafka's
# libs/ there); plugin.path names it too, as a bin/ install would. plugin.discovery=service_load,
# as the worker itself advises: the default (hybrid_warn) also scans every class of the
# classpath by reflection, 13 s of each start on 2 cores.
cat >"$WORK/worker.properties" <<EOF
bootstrap.servers=$BOOTSTRAP
group.id=kbroker-compat-connect
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic=connect-configs
config.storage.replication.factor=1
offset.storage.topic=connect-offsets
offset.storage.replication.factor=1
offset.storage.partitions=5
status.storage.topic=connect-status
status.storage.replication.factor=1
status.storage.partitions=3
config.storage.segment.ms=2000
offset.storage.segment.ms=2000
status.storage.segment.ms=2000
config.storage.min.cleanable.dirty.ratio=0.01
offset.storage.min.cleanable.dirty.ratio=0.01
status.storage.min.cleanable.dirty.ratio=0.01
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$REST_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$REST_PORT
plugin.path=$KAFKA_LIBS/connect-file-$KAFKA_VERSION.jar
plugin.discovery=service_load
EOF
append 1 "$N"

start_worker

# ------------------------------------------------------------------ topics
log "topics: the worker's config, offset and status topics"
timeout --kill-after=10 120 "$COMPAT_DIR/kafka" topics --bootstrap-server "$BOOTSTRAP" --describe \
    --topic 'connect-(configs|offsets|status)' >"$WORK/topics.out" 2>"$WORK/topics.err" \
    || { cat "$WORK/topics.err" >&2; cfail "kafka-topics --describe failed"; }
for spec in configs:1 offsets:5 status:3; do
    t="connect-${spec%%:*}"
    line="$(grep -P "^Topic: $t\t" "$WORK/topics.out" || true)"
    [[ -n "$line" ]] || { cat "$WORK/topics.out" >&2; cfail "the worker did not create $t"; }
    [[ "$line" == *$'\tPartitionCount: '"${spec#*:}"$'\t'* ]] || cfail "$t: not ${spec#*:} partitions: $line"
    [[ "$line" == *$'\tReplicationFactor: 1\t'* ]] || cfail "$t: replication factor is not 1: $line"
    [[ "$line" =~ Configs:.*cleanup\.policy=compact ]] || cfail "$t: not cleanup.policy=compact: $line"
    [[ "$line" =~ Configs:.*segment\.ms=2000 ]] || cfail "$t: not segment.ms=2000: $line"
done
log "topics: connect-configs (1 partition), connect-offsets (5), connect-status (3), all compacted"

# ------------------------------------------------------------------ pipeline
log "pipeline: FileStreamSource -> $TOPIC -> FileStreamSink, $N lines"
create() {
    local deadline=$((SECONDS + WAIT))
    while :; do
        rest POST /connectors "$2"
        [[ $CODE == 201 ]] && break
        # 409: the worker is (re)joining its group; anything else is an error.
        [[ $CODE == 409 ]] || cfail "POST /connectors ($1) answered HTTP $CODE: $BODY"
        ((SECONDS < deadline)) || cfail "POST /connectors ($1) still 409 after ${WAIT}s: $BODY"
        sleep 1
    done
    wait_until "$WAIT" "RUNNING connector $1 with one RUNNING task" status_is "$1" "RUNNING RUNNING"
}
create source "{\"name\": \"source\", \"config\": {
    \"connector.class\": \"org.apache.kafka.connect.file.FileStreamSourceConnector\",
    \"tasks.max\": \"1\", \"file\": \"$SRC\", \"topic\": \"$TOPIC\",
    \"topic.creation.default.partitions\": \"1\", \"topic.creation.default.replication.factor\": \"1\"}}"
create sink "{\"name\": \"sink\", \"config\": {
    \"connector.class\": \"org.apache.kafka.connect.file.FileStreamSinkConnector\",
    \"tasks.max\": \"1\", \"file\": \"$SINK\", \"topics\": \"$TOPIC\"}}"
rest GET /connectors
[[ "$(json 'sorted(d)')" == "['sink', 'source']" ]] || cfail "GET /connectors: $BODY"
sink_equals_source pipeline

# ------------------------------------------------------------------ restart
log "restart: stopping the worker, appending $M lines, starting it again"
stop_worker || cfail "the worker did not exit within 60s of SIGTERM"
append $((N + 1)) $((N + M))
start_worker
wait_until "$WAIT" "RUNNING source after the restart" status_is source "RUNNING RUNNING"
wait_until "$WAIT" "RUNNING sink after the restart" status_is sink "RUNNING RUNNING"
sink_equals_source restart

# ------------------------------------------------------------------ pause / resume
log "pause: the sink"
rest PUT /connectors/sink/pause
[[ $CODE == 202 ]] || cfail "PUT /connectors/sink/pause answered HTTP $CODE: $BODY"
wait_until "$WAIT" "PAUSED sink" status_is sink "PAUSED PAUSED"
append $((N + M + 1)) $((N + M + K))
topic_has() { [[ "$(topic_end)" == "$1" ]]; }
wait_until "$WAIT" "end offset $((N + M + K)) of $TOPIC (source still running)" topic_has $((N + M + K))
sleep 3 # ample for a running sink to deliver them (it polls continuously)
(($(lines "$SINK") == N + M)) \
    || cfail "pause: the paused sink wrote $(($(lines "$SINK") - N - M)) more lines"
log "pause: $K lines are in the topic, none in the sink file while paused"
rest PUT /connectors/sink/resume
[[ $CODE == 202 ]] || cfail "PUT /connectors/sink/resume answered HTTP $CODE: $BODY"
wait_until "$WAIT" "RUNNING sink after resume" status_is sink "RUNNING RUNNING"
sink_equals_source resume

# Committed positions (KIP-875 GET /connectors/X/offsets): the sink's consumer group is at the
# topic's end, the source's committed file position is the whole file. Both are committed every
# offset.flush.interval.ms (1 s).
sink_committed() {
    rest GET /connectors/sink/offsets
    [[ $CODE == 200 && "$(json '[o["offset"]["kafka_offset"] for o in d["offsets"]]')" == "[$1]" ]]
}
source_committed() {
    rest GET /connectors/source/offsets
    [[ $CODE == 200 && "$(json '[o["offset"]["position"] for o in d["offsets"]]')" == "[$1]" ]]
}
wait_until "$WAIT" "sink offset $((N + M + K)) in GET /connectors/sink/offsets" sink_committed $((N + M + K))
wait_until "$WAIT" "source position $(stat -c %s "$SRC") in GET /connectors/source/offsets" \
    source_committed "$(stat -c %s "$SRC")"
log "offsets: the sink committed offset $((N + M + K)), the source position $(stat -c %s "$SRC")"

# ------------------------------------------------------------------ compacted
# A compacted topic read from the beginning skips the offsets the cleaner removed: a record
# whose offset is not the one after its partition's previous record (or 0) is past a gap.
has_gaps() {
    timeout 30 kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q -f '%p %o\n' 2>/dev/null \
        | awk '{ if ($2 != expect[$1] + 0) gap = 1; expect[$1] = $2 + 1 } END { exit !gap }'
}
# One more status change rolls the segments holding the pause and resume records (a segment
# is closed by the first append more than segment.ms after its first record).
sleep 2.5
rest PUT /connectors/sink/pause
wait_until "$WAIT" "PAUSED sink" status_is sink "PAUSED PAUSED"
rest PUT /connectors/sink/resume
wait_until "$WAIT" "RUNNING sink after resume" status_is sink "RUNNING RUNNING"
for t in connect-configs connect-status; do
    wait_until "$WAIT" "superseded records of $t removed by the cleaner" has_gaps "$t"
done
log "compacted: the cleaner removed superseded records of connect-configs and connect-status"
stop_worker || cfail "the worker did not exit within 60s of SIGTERM"
append $((N + M + K + 1)) $((N + M + K + 100))
start_worker
wait_until "$WAIT" "RUNNING source on the compacted topics" status_is source "RUNNING RUNNING"
wait_until "$WAIT" "RUNNING sink on the compacted topics" status_is sink "RUNNING RUNNING"
sink_equals_source compacted
K=$((K + 100))
wait_until "$WAIT" "sink offset $((N + M + K)) after the restart" sink_committed $((N + M + K))
wait_until "$WAIT" "source position $(stat -c %s "$SRC") after the restart" \
    source_committed "$(stat -c %s "$SRC")"
log "compacted: the worker restarted on compacted topics resumed both connectors exactly"

# ------------------------------------------------------------------ delete
log "delete: the source"
rest DELETE /connectors/source
[[ $CODE == 204 ]] || cfail "DELETE /connectors/source answered HTTP $CODE: $BODY"
only_sink() { rest GET /connectors && [[ $CODE == 200 && "$(json 'd')" == "['sink']" ]]; }
wait_until "$WAIT" "GET /connectors without source" only_sink
# The worker removes the status once the connector and its task have stopped.
status_gone() { [[ "$(status source)" == HTTP-404 ]]; }
wait_until "$WAIT" "404 from GET /connectors/source/status" status_gone
append $((N + M + K + 1)) $((N + M + K + 10))
sleep 3 # a running source polls the file every second
[[ "$(topic_end)" == $((N + M + K)) ]] || cfail "delete: lines appended after DELETE reached $TOPIC"
(($(lines "$SINK") == N + M + K)) || cfail "delete: lines appended after DELETE reached the sink"
log "delete: the source is gone; lines appended afterwards reach neither the topic nor the sink"

stop_worker || cfail "the worker did not exit within 60s of SIGTERM"
log "PASS"
