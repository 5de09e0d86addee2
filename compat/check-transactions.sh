#!/usr/bin/env bash
# Transactions (exactly-once) with the official Java client 4.3.1 (java/TxnCheck.java) and
# Kafka's kafka-transactions tool, one node: a transactional producer commits, aborts and
# commits again; a read_committed consumer sees only the committed records, a read_uncommitted
# one all of them, and an open transaction holds the last stable offset back; a second
# producer with the same transactional.id fences the first (its commit fails, its records are
# aborted); transaction.timeout.ms above transaction.max.timeout.ms is refused and a
# transaction past its timeout is aborted by the coordinator; kafka-transactions lists and
# describes an open transaction and its producer; a consume-transform-produce loop with
# sendOffsetsToTransaction, aborting every third transaction and rewinding, writes every input
# exactly once and leaves the group committed at the input's end; the same loop SIGKILLed
# mid-way and restarted writes every input exactly once too.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"

java_build
start_broker

section() { # NAME ARGS...
    local name=$1; shift
    java_run 80 TxnCheck "$name" "$BOOTSTRAP" "$@" >"$WORK/$name.out" 2>&1 \
        || { cat "$WORK/$name.out" >&2; fail "$name"; }
    grep -v ' WARN ' "$WORK/$name.out" | sed "s/^/  /" >&2
}

# kafka-transactions list / describe / describe-producers / find-hanging while a transaction
# of TxnCheck hold is open.
tools() {
    local topic="txn-hold-$$" id="txn-hold-txn-hold-$$" pid waited=0
    java_run 80 TxnCheck hold "$BOOTSTRAP" "$topic" "$WORK/hold.stop" >"$WORK/hold.out" 2>&1 &
    pid=$!
    until grep -q '^OPEN' "$WORK/hold.out"; do
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/hold.out" >&2; fail "TxnCheck hold ended"; }
        ((waited++ < 300)) || fail "no open transaction after 30 s"
        sleep 0.1
    done
    kt transactions --bootstrap-server "$BOOTSTRAP" list
    # Tab-separated, padded columns.
    local sp='[[:space:]]+'
    grep -qE "^$id${sp}1${sp}[0-9]+${sp}Ongoing[[:space:]]*$" "$OUT" \
        || kt_fail "list: no Ongoing $id coordinated by 1"
    kt transactions --bootstrap-server "$BOOTSTRAP" describe --transactional-id "$id"
    grep -qE "^1${sp}$id${sp}[0-9]+${sp}0${sp}Ongoing${sp}60000${sp}[0-9]+${sp}[0-9]+${sp}$topic-0[[:space:]]*$" "$OUT" \
        || kt_fail "describe: not Ongoing at epoch 0 with $topic-0"
    kt transactions --bootstrap-server "$BOOTSTRAP" describe-producers --topic "$topic" --partition 0
    grep -qE "^[0-9]+${sp}0${sp}-1${sp}2${sp}[0-9]+${sp}0[[:space:]]*$" "$OUT" \
        || kt_fail "describe-producers: no producer at epoch 0, last sequence 2, transaction from offset 0"
    kt transactions --bootstrap-server "$BOOTSTRAP" find-hanging --broker-id 1
    touch "$WORK/hold.stop"
    wait "$pid" || { cat "$WORK/hold.out" >&2; fail "TxnCheck hold"; }
    log "kafka-transactions: list, describe, describe-producers, find-hanging"
}

# The consume-transform-produce app SIGKILLed mid-way (after its first committed transaction,
# while it works through 3,000 inputs 50 at a time) and restarted with the same transactional
# id: the read_committed output must hold each input exactly once.
descendant_java() { # PID: the java process in PID's process tree
    local child
    for child in $(pgrep -P "$1"); do
        if [[ "$(cat "/proc/$child/comm" 2>/dev/null)" == java ]]; then
            echo "$child"
            return 0
        fi
        descendant_java "$child" && return 0
    done
    return 1
}

ctp_kill() {
    local topic="txn-ctpk-$$" pid app waited=0
    java_run 60 TxnCheck ctp-input "$BOOTSTRAP" "$topic" 3000 >"$WORK/ctpk-input.out" 2>&1 \
        || { cat "$WORK/ctpk-input.out" >&2; fail "ctp-input"; }
    java_run 120 TxnCheck ctp-app "$BOOTSTRAP" "$topic" >"$WORK/ctpk-1.out" 2>&1 &
    pid=$!
    until grep -q '^PROGRESS' "$WORK/ctpk-1.out"; do
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/ctpk-1.out" >&2; fail "ctp-app ended before its first commit"; }
        ((waited++ < 600)) || fail "ctp-app: no committed transaction after 60 s"
        sleep 0.1
    done
    sleep 0.5
    # $pid is the subshell running java_run; the app is the java process under its timeout.
    app="$(descendant_java "$pid")" || fail "no java process under $pid"
    kill -KILL "$app"
    wait "$pid" 2>/dev/null || true
    grep -q "transactions committed" "$WORK/ctpk-1.out" && fail "ctp-app finished before the kill"
    log "ctp-app SIGKILLed mid-way; restarting it"
    java_run 120 TxnCheck ctp-app "$BOOTSTRAP" "$topic" >"$WORK/ctpk-2.out" 2>&1 \
        || { cat "$WORK/ctpk-2.out" >&2; fail "ctp-app after the kill"; }
    java_run 60 TxnCheck ctp-verify "$BOOTSTRAP" "$topic" 3000 >"$WORK/ctpk-verify.out" 2>&1 \
        || { cat "$WORK/ctpk-verify.out" >&2; fail "ctp-verify"; }
    grep -hv ' WARN ' "$WORK/ctpk-2.out" "$WORK/ctpk-verify.out" | sed "s/^/  /" >&2
    log "consume-transform-produce killed mid-way: each output exactly once"
}

section commit-abort "txn-ca-$$"
section fence "txn-fence-$$"
section timeout "txn-timeout-$$"
tools
section ctp "txn-ctp-$$" 600
ctp_kill
log "PASS"
