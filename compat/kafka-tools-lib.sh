# shellcheck shell=bash
# Running Apache Kafka's own command-line tools (compat/kafka) from a check. Sourced after
# lib.sh by check-kafka-tools.sh and check-kafka-tools-perf.sh.
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
