#!/usr/bin/env bash
# Transactions across a transaction-coordinator failover, 3-node cluster, the official Java
# client (java/TxnCheck.java failover): a transaction is left open with records flushed to
# two partitions of replication factor 3, the node leading its __transaction_state partition
# (its coordinator, from describeTransactions) is SIGKILLed, then the producer writes more
# records to the same transaction and commits. It must commit or abort as a whole:
# read_committed consumers see all of its 40 records or none, never a part; a later
# transaction commits through the new coordinator. The killed node is restarted at the end.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="txn-failover-$$"
DIR="$WORK/txn"
mkdir -p "$DIR"

java_build
cluster_start "$CLUSTER_NODES"
require_apis 22:InitProducerId 24:AddPartitionsToTxn 26:EndTxn 65:DescribeTransactions

java_run 240 TxnCheck failover "$BOOTSTRAP" "$TOPIC" "$DIR" >"$WORK/txn.out" 2>&1 &
tc=$!
track_pid "$tc"
on_exit '[[ ${rc:-0} == 0 ]] || { echo "----- TxnCheck output -----" >&2; tail -n 60 "$WORK/txn.out" >&2; }'
deadline=$((SECONDS + 120))
until [[ -e "$DIR/ready" ]]; do
    kill -0 "$tc" 2>/dev/null || fail "TxnCheck exited before the transaction was open"
    ((SECONDS < deadline)) || fail "no open transaction within 120 s"
    sleep 0.1
done
coord="$(cat "$DIR/coordinator")"
log "transaction coordinator is node $coord; SIGKILL"
node_kill9 "$coord"
touch "$DIR/killed"
tc_rc=0
wait "$tc" || tc_rc=$?
untrack_pid "$tc"
show_output "$WORK/txn.out"
((tc_rc == 0)) || fail "TxnCheck failover failed (exit $tc_rc)"
grep -h "OUTCOME" "$WORK/txn.out" >&2 || true
log "restarting node $coord"
node_restart "$coord"
log "PASS"
