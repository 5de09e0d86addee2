#!/usr/bin/env bash
# Partition reassignment (Raft membership change) and CreatePartitions on a 3-node loopback
# cluster, driven by kafka-python's Admin client. See check-cluster-reassign.py.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

cluster_start 3
timeout 150 "$PYTHON" "$COMPAT_DIR/check-cluster-reassign.py" "$BOOTSTRAP"
# Broker 1 left the partition: it must have dropped its replica.
for _ in $(seq 1 50); do
    [[ -z "$(node_metric 1 broker_raft_leader moving 0)" ]] && break
    sleep 0.2
done
[[ -z "$(node_metric 1 broker_raft_leader moving 0)" ]] || fail "broker 1 still hosts moving-0"
log "broker 1 no longer hosts moving-0"
