# shellcheck shell=bash
# Running Apache Kafka's own command-line tools (compat/kafka) from a check, and parsing what
# they print. Sourced after lib.sh by check-kafka-tools.sh, check-kafka-tools-perf.sh and
# check-cluster-kafka-tools.sh.
#
#   kt TOOL ARGS...         compat/kafka TOOL ARGS (stdin from $KT_IN, default none); fails the
#                           check when the tool exits non-zero or prints an error
#   kt_try TOOL ARGS...     the same, returning the exit status (also KT_RC) instead of failing
#                           Either way OUT and KT_ERR are the run's stdout and stderr files; every
#                           run keeps its command line, stdout and stderr in $WORK/tools/NN-TOOL.*
#   kt_fail MSG             fail, showing the last run's command and the tails of its output
#   expect_eq WHAT GOT WANT / expect_line LINE / kv KEY LINE   (see below)
#   run_sections SELECTION  runs section_NAME for each NAME of SELECTION (default: all of
#                           SECTIONS); a section in KBROKER_PENDING is skipped against kbroker,
#                           with a warning and the reason, unless KAFKA_TOOLS_PENDING=1
#   check_features          kafka-features describe (every finalized level within its range)
#   check_metadata_quorum VOTERS   kafka-metadata-quorum describe --status and --replication
#   log_dirs_rows           LOG_DIRS: kafka-log-dirs --describe output, a line per log dir / replica
#
# The tools run with JVM options for short-lived JVMs (C1 only, serial GC: a third less CPU
# per run than kafka-run-class.sh's G1 and full JIT; same classes, classpath and arguments);
# KAFKA_TOOLS_JVM_OPTS replaces them (it becomes KAFKA_JVM_PERFORMANCE_OPTS of each tool).

TOOLS_JVM_OPTS="${KAFKA_TOOLS_JVM_OPTS:--server -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"
STEP=0
# kt_try TOOL ARGS...: compat/kafka TOOL ARGS (stdin from $KT_IN, default none); OUT and
# KT_ERR are its stdout and stderr files, KT_RC its exit status (also returned).
kt_try() {
    local base
    STEP=$((STEP + 1))
    mkdir -p "$WORK/tools"
    base="$WORK/tools/$(printf %02d "$STEP")-$1"
    printf '%q ' compat/kafka "$@" >"$base.cmd"
    OUT="$base.out"
    KT_ERR="$base.err"
    KT_RC=0
    KAFKA_JVM_PERFORMANCE_OPTS="$TOOLS_JVM_OPTS" timeout --kill-after=10 120 "$COMPAT_DIR/kafka" "$@" \
        <"${KT_IN:-/dev/null}" >"$OUT" 2>"$KT_ERR" || KT_RC=$?
    return "$KT_RC"
}

# kt TOOL ARGS...: kt_try, failing the check when the tool exits non-zero or reports an
# error (some, like kafka-consumer-groups, print "Error: ..." and exit 0).
kt() {
    kt_try "$@" || kt_fail "kafka-$1 exited $KT_RC"
    ! grep -qE '^Error|^\[[^]]*\] ERROR|^[a-z][a-z0-9.]*\.[A-Za-z]*(Exception|Error)\b' "$OUT" "$KT_ERR" \
        || kt_fail "kafka-$1 reported an error"
}

kt_fail() {
    {
        echo "--- $(cat "${OUT%.out}.cmd")"
        echo "--- stdout:"
        tail -n 40 "$OUT"
        echo "--- stderr:"
        tail -n 40 "$KT_ERR"
    } >&2
    fail "$*"
}

# expect_eq WHAT GOT WANT
expect_eq() { [[ "$2" == "$3" ]] || kt_fail "$1: expected '$3', got '$2'"; }
# expect_line LINE: stdout of the last tool has exactly this line.
expect_line() { grep -qxF -- "$1" "$OUT" || kt_fail "no line '$1'"; }

# kv KEY LINE: the value of "KEY: value" in a tab-separated kafka-topics --describe line.
kv() { tr '\t' '\n' <<<"$2" | sed -n "s/^ *$1: *//p" | head -n 1; }

# run_sections SELECTION: section_NAME (dashes as underscores) for each NAME of SELECTION, a
# space-separated list (default: all of SECTIONS). A section with an entry in KBROKER_PENDING
# (NAME -> what kbroker answers differently) is skipped against kbroker with a warning, unless
# KAFKA_TOOLS_PENDING=1; against Apache Kafka every section runs.
run_sections() {
    local run s start
    read -r -a run <<<"${1:-${SECTIONS[*]}}"
    for s in "${run[@]}"; do
        [[ " ${SECTIONS[*]} " == *" $s "* ]] || fail "unknown section '$s' (${SECTIONS[*]})"
        if [[ "$COMPAT_TARGET" == kbroker && -n "${KBROKER_PENDING[$s]:-}" && "${KAFKA_TOOLS_PENDING:-0}" != 1 ]]; then
            warn "$s: pending on kbroker (${KBROKER_PENDING[$s]}); KAFKA_TOOLS_PENDING=1 runs it"
            continue
        fi
        start=$SECONDS
        log "section $s"
        "section_${s//-/_}"
        log "section $s: PASS ($((SECONDS - start)) s)"
    done
    log "PASS ($STEP tool runs)"
}

# ------------------------------------------------------------------ admin tools
# kafka-features describe: one "Feature: NAME  SupportedMinVersion: A  SupportedMaxVersion: B
# FinalizedVersionLevel: C  Epoch: E" line per feature. metadata.version must be there, its
# levels written as Kafka releases ("4.1-IV1"), the others as numbers; every finalized level
# within its supported range, one epoch for all. Sets FEATURES ("name=level ...").
check_features() {
    kt features "${BS[@]}" describe
    local line name min max fin epoch epochs="" n=0
    FEATURES=""
    while IFS= read -r line; do
        [[ "$line" =~ ^Feature:\ ([a-z.]+)\ +SupportedMinVersion:\ ([^ ]+)\ +SupportedMaxVersion:\ ([^ ]+)\ +FinalizedVersionLevel:\ ([^ ]+)\ +Epoch:\ ([0-9]+)\ *$ ]] \
            || kt_fail "kafka-features: unexpected line '$line'"
        name=${BASH_REMATCH[1]} min=${BASH_REMATCH[2]} max=${BASH_REMATCH[3]} fin=${BASH_REMATCH[4]} epoch=${BASH_REMATCH[5]}
        FEATURES+="${FEATURES:+ }$name=$fin"
        epochs+=" $epoch"
        n=$((n + 1))
        if [[ "$name" == metadata.version ]]; then
            min=$(_release_num "$min") && max=$(_release_num "$max") && fin=$(_release_num "$fin") \
                || kt_fail "metadata.version: levels are not releases like 4.1-IV1: '$line'"
        fi
        [[ "$min$max$fin" =~ ^[0-9]+$ ]] || kt_fail "$name: levels are not numbers: '$line'"
        ((min <= max)) || kt_fail "$name: SupportedMinVersion above SupportedMaxVersion: '$line'"
        # Finalized 0 means "off", allowed below a supported range starting at 1.
        ((fin == 0 || (min <= fin && fin <= max))) || kt_fail "$name: FinalizedVersionLevel outside the supported range: '$line'"
    done < <(grep . "$OUT")
    [[ " $FEATURES" == *" metadata.version="* ]] || kt_fail "kafka-features describe: no metadata.version"
    expect_eq "kafka-features: one epoch for all features" "$(tr ' ' '\n' <<<"$epochs" | grep . | sort -u | wc -l)" 1
    log "kafka-features: $n features (epoch ${epoch:-?}): $FEATURES"
}

# A metadata.version level as a number ("3.3-IV3" -> 3003003), so that levels compare.
_release_num() {
    [[ "$1" =~ ^([0-9]+)\.([0-9]+)-IV([0-9]+)$ ]] || return 1
    echo $((BASH_REMATCH[1] * 1000000 + BASH_REMATCH[2] * 1000 + BASH_REMATCH[3]))
}

# check_metadata_quorum VOTERS: kafka-metadata-quorum describe --status and --replication on a
# quorum whose voters are VOTERS (node ids, comma-separated, ascending), with no observers.
# --status: ClusterId (the kafka-cluster cluster-id), LeaderId among the voters, LeaderEpoch
# >= 1, HighWatermark > 0, MaxFollowerLag and MaxFollowerLagTimeMs numbers, CurrentVoters the
# voters, each with endpoints "LISTENER://127.0.0.1:PORT". --replication: the header, one row
# per voter: the leader's row says Leader, the others Follower, Lag = the leader's
# LogEndOffset - the row's, LogEndOffset >= HighWatermark for the leader, timestamps within
# 5 minutes of now. Sets QUORUM_LEADER.
check_metadata_quorum() {
    local voters=$1 v cid ids
    kt cluster cluster-id "${BS[@]}"
    cid="$(sed -n 's/^Cluster ID: //p' "$OUT")"
    kt metadata-quorum "${BS[@]}" describe --status
    expect_eq "metadata-quorum ClusterId (kafka-cluster cluster-id)" "$(_status_field ClusterId)" "$cid"
    QUORUM_LEADER="$(_status_field LeaderId)"
    [[ ",$voters," == *",$QUORUM_LEADER,"* ]] || kt_fail "LeaderId '$QUORUM_LEADER' is not a voter ($voters)"
    local epoch hw
    epoch="$(_status_field LeaderEpoch)"
    [[ "$epoch" =~ ^[0-9]+$ ]] && ((epoch >= 1)) || kt_fail "LeaderEpoch '$epoch' is not >= 1"
    hw="$(_status_field HighWatermark)"
    [[ "$hw" =~ ^[0-9]+$ ]] && ((hw > 0)) || kt_fail "HighWatermark '$hw' is not > 0"
    [[ "$(_status_field MaxFollowerLag)" =~ ^[0-9]+$ ]] || kt_fail "MaxFollowerLag '$(_status_field MaxFollowerLag)' is not a number"
    [[ "$(_status_field MaxFollowerLagTimeMs)" =~ ^-?[0-9]+$ ]] || kt_fail "MaxFollowerLagTimeMs '$(_status_field MaxFollowerLagTimeMs)' is not a number"
    # [{"id": 1, "endpoints": ["CONTROLLER://127.0.0.1:40235"]}, ...]
    v="$(_status_field CurrentVoters)"
    ids="$(grep -oE '"id": [0-9]+' <<<"$v" | grep -oE '[0-9]+' | sort -n | paste -sd, -)"
    expect_eq "metadata-quorum CurrentVoters ids" "$ids" "$voters"
    expect_eq "metadata-quorum CurrentVoters endpoints" \
        "$(grep -oE '\{"id": [0-9]+, "endpoints": \["[A-Z_]+://127\.0\.0\.1:[0-9]+"\]\}' <<<"$v" | wc -l)" \
        "$(tr , '\n' <<<"$voters" | wc -l)"
    expect_eq "metadata-quorum CurrentObservers" "$(_status_field CurrentObservers)" "[]"

    kt metadata-quorum "${BS[@]}" describe --replication
    expect_eq "metadata-quorum --replication header" "$(head -n 1 "$OUT" | tr -s ' \t' ' ' | sed 's/ $//')" \
        "NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status"
    local now rows leo_leader
    now=$(date +%s%3N)
    # NodeId DirectoryId LogEndOffset Lag LastFetch LastCaughtUp Status
    rows="$(tail -n +2 "$OUT" | awk '{print $1, $3, $4, $5, $6, $7}')"
    expect_eq "metadata-quorum --replication node ids" "$(awk '{print $1}' <<<"$rows" | sort -n | paste -sd, -)" "$voters"
    expect_eq "metadata-quorum --replication: the leader's row" "$(awk '$6 == "Leader" {print $1}' <<<"$rows")" "$QUORUM_LEADER"
    expect_eq "metadata-quorum --replication: rows that are neither leader nor follower" \
        "$(awk '$6 != "Leader" && $6 != "Follower"' <<<"$rows")" ""
    leo_leader="$(awk '$6 == "Leader" {print $2}' <<<"$rows")"
    ((leo_leader >= hw)) || kt_fail "the leader's LogEndOffset $leo_leader is below the HighWatermark $hw of --status"
    local id leo lag fetch caught status
    while read -r id leo lag fetch caught status; do
        [[ "$leo$lag$fetch$caught" =~ ^[0-9]+$ ]] || kt_fail "node $id: not numbers: $leo $lag $fetch $caught"
        expect_eq "node $id: Lag (leader's LogEndOffset $leo_leader - $leo)" "$lag" $((leo_leader - leo))
        for v in "$fetch" "$caught"; do
            ((v > now - 300000 && v < now + 300000)) || kt_fail "node $id: timestamp $v not within 5 minutes of now ($now)"
        done
    done <<<"$rows"
}

# The value of "NAME:   value" in kafka-metadata-quorum describe --status output.
_status_field() { sed -nE "s/^$1: +//p" "$OUT"; }

# log_dirs_rows: LOG_DIRS is the JSON of the last kafka-log-dirs --describe as lines
#   dir BROKER LOGDIR ERROR
#   part BROKER PARTITION SIZE OFFSETLAG ISFUTURE
log_dirs_rows() {
    LOG_DIRS="$("$PYTHON" "$COMPAT_DIR/ktools.py" log-dirs "$OUT")" || kt_fail "kafka-log-dirs: output not understood"
}
