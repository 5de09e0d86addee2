#!/usr/bin/env bash
# Transactions (exactly-once) with the official Java client 4.3.1 (java/TxnCheck.java), one
# node: a transactional producer commits, aborts and commits again; a read_committed consumer
# sees only the committed records, a read_uncommitted one all of them, and an open transaction
# holds the last stable offset back; a second producer with the same transactional.id fences
# the first (its commit fails, its records are aborted); a consume-transform-produce loop with
# sendOffsetsToTransaction, aborting every third transaction and rewinding, writes every input
# exactly once and leaves the group committed at the input's end.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

java_build
start_broker

section() { # NAME ARGS...
    local name=$1; shift
    java_run 80 TxnCheck "$name" "$BOOTSTRAP" "$@" >"$WORK/$name.out" 2>&1 \
        || { cat "$WORK/$name.out" >&2; fail "$name"; }
    grep -v ' WARN ' "$WORK/$name.out" | sed "s/^/  /" >&2
}

section commit-abort "txn-ca-$$"
section fence "txn-fence-$$"
section ctp "txn-ctp-$$" 600
log "PASS"
