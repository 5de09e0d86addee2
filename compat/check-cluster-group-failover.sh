#!/usr/bin/env bash
# Consumer group across a group-coordinator failover, 3-node cluster, official Java consumer
# (kafka-clients 4.3.1, CLUSTER_GROUP_PROTOCOL=classic by default, or consumer for KIP-848;
# enable.auto.commit=false, commitSync of exactly the processed offsets after each batch).
# See java/ClusterGroupCheck.java:
#   a 4-partition topic with replication factor 3 and CLUSTER_GROUP_RECORDS (16000) records;
#   two members consume (throttled) and commit; once a quarter is committed, the group's
#   coordinator (describeConsumerGroups().coordinator()) is SIGKILLed here. The members must
#   keep consuming and committing through the new coordinator (COMMIT_RESUMED_MS=<n>: from the
#   kill to the first acknowledged commit; above CLUSTER_MAX_COMMIT_RESUMED_MS, 30000, fails),
#   which must show at least every offset committed
#   before the kill (listConsumerGroupOffsets); no record below a committed offset may ever be
#   delivered again (redelivery of uncommitted records is legal and counted). Then the two
#   close and a fresh member must start exactly at the group's committed offsets and read the
#   rest. The killed node is restarted at the end.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

PROTOCOL="${CLUSTER_GROUP_PROTOCOL:-classic}"
TOPIC="group-failover-$$"
GROUP="gf-$PROTOCOL-$$"
DIR="$WORK/group"
mkdir -p "$DIR"

java_build
cluster_start "$CLUSTER_NODES"
require_apis "${CLASSIC_GROUP_APIS[@]}"
[[ "$PROTOCOL" != consumer ]] || require_apis 68:ConsumerGroupHeartbeat

java_run 240 ClusterGroupCheck "$PROTOCOL" "$BOOTSTRAP" "$TOPIC" "$GROUP" "$DIR" \
    "${CLUSTER_GROUP_RECORDS:-16000}" 3 >"$WORK/group.out" 2>&1 &
gc=$!
track_pid "$gc"
on_exit '[[ ${rc:-0} == 0 ]] || { echo "----- ClusterGroupCheck output -----" >&2; tail -n 60 "$WORK/group.out" >&2; }'
deadline=$((SECONDS + 150))
until [[ -e "$DIR/ready" ]]; do
    kill -0 "$gc" 2>/dev/null || fail "ClusterGroupCheck exited before the group was ready"
    ((SECONDS < deadline)) || fail "group not ready within 150 s"
    sleep 0.1
done
coord="$(cat "$DIR/coordinator")"
log "coordinator of $GROUP is node $coord; SIGKILL"
node_kill9 "$coord"
touch "$DIR/killed"
gc_rc=0
wait "$gc" || gc_rc=$?
untrack_pid "$gc"
show_output "$WORK/group.out"
((gc_rc == 0)) || fail "ClusterGroupCheck failed (exit $gc_rc)"
resumed="$(sed -n 's/^COMMIT_RESUMED_MS=\([0-9]*\).*/\1/p' "$WORK/group.out")"
resumed="${resumed%%$'\n'*}"
[[ -n "$resumed" ]] || fail "no COMMIT_RESUMED_MS line in the ClusterGroupCheck output"
echo "COMMIT_RESUMED_MS=$resumed"
# ~2.5 s with KIP-848 (election of the new coordinator), ~6 s classic (the members also rejoin)
((resumed <= ${CLUSTER_MAX_COMMIT_RESUMED_MS:-30000})) \
    || fail "COMMIT_RESUMED_MS=$resumed: the group could not commit for more than ${CLUSTER_MAX_COMMIT_RESUMED_MS:-30000} ms after its coordinator was killed"
log "restarting node $coord"
node_restart "$coord"
log "PASS"
