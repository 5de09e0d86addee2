#!/usr/bin/env bash
# A replica catches up from a snapshot once retention (DeleteRecords here) purged the leader's
# log, on a 3-node loopback cluster, with kafka-python. See check-cluster-snapshot.py.
#  1. Restarted follower: a follower is SIGKILLed; 3,000 records are written and the log start
#     moved to 2,000; the leader purges its Raft log. The follower restarts, installs a snapshot
#     (the checkpoint plus the retained records), catches up, is made leader, and serves
#     offsets 2,000..2,999 itself.
#  2. Reassignment: a partition on broker 1 alone, trimmed and purged the same way, moves to
#     brokers 2 and 3, which start from a snapshot; every retained record is still there.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

snap() { timeout 120 "$PYTHON" "$COMPAT_DIR/check-cluster-snapshot.py" "$(live_bootstrap)" "$@"; }

# wait_log I PATTERN SECONDS: until node I's log has a line matching PATTERN (grep -E).
wait_log() {
    local deadline=$((SECONDS + $3))
    until grep -qE "$2" "${NODE_LOG[$1]}"; do
        ((SECONDS < deadline)) || fail "node $1 logged no '$2' within $3 s"
        sleep 0.2
    done
}

echo "retention_check_interval_ms = 300" >"$WORK/broker.toml"
CLUSTER_EXTRA_ARGS="--config $WORK/broker.toml"
cluster_start 3

snap create snap
leader="$(leader_of snap 0 30)"
follower=$(( leader % 3 + 1 ))
log "snap-0: leader $leader; SIGKILL follower $follower"
node_kill9 "$follower"
snap fill snap 3000 2000
wait_log "$leader" "purging the raft log.*topic=snap .*partition=0" 30
# openraft purges once no replication in flight reads the entries; one still on its way to
# the killed follower delays it, and a follower restarted before then catches up from the log.
deadline=$((SECONDS + 30))
while purged="$(node_metric "$leader" broker_raft_purged_index snap 0)"; (( ${purged%.*} + 0 == 0 )); do
    (( SECONDS < deadline )) || fail "leader $leader did not purge snap-0 within 30 s"
    sleep 0.2
done
log "leader $leader purged its Raft log below the new log start (up to index $purged)"
node_restart "$follower"
wait_log "$follower" "installed a partition snapshot" 60
wait_caught_up "$follower" snap 0 3000 60
installed="$(curl -s "http://127.0.0.1:${NODE_MPORT[$follower]}/metrics" \
    | awk '$1 == "broker_partition_snapshots_installed_total" {print $2}')"
[[ "${installed:-0}" -ge 1 ]] || fail "node $follower: broker_partition_snapshots_installed_total is '${installed}'"
log "follower $follower installed a snapshot ($installed counted) and caught up"
make_leader "$follower" snap 0 "snap write snap" || fail "node $follower did not become leader of snap-0"
snap verify snap 3000 2000 "$follower"

snap create moving 1
snap fill moving 1000 500
wait_log 1 "purging the raft log.*topic=moving" 30
installs() { grep -c "installed a partition snapshot" "${NODE_LOG[$1]}" || true; }
before2=$(installs 2) before3=$(installs 3)
snap move moving 2,3
(( $(installs 2) > before2 && $(installs 3) > before3 )) \
    || fail "brokers 2 and 3 joined moving-0 without installing a snapshot"
new_leader="$(leader_of moving 0 30)"
snap verify moving 1000 500 "$new_leader"
