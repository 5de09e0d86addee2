#!/usr/bin/env bash
# Cluster membership at runtime: a 4th broker started with --join registers with a running
# 3-node cluster, takes a replica, gives it back, and leaves through Admin.unregisterBroker
# (which is refused while it still holds a replica). See check-cluster-join.py.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

cluster_start 3
read -r -a extra <<<"$(free_ports 3)"
node_define 4 "${extra[@]}"
mkdir -p "${NODE_DATA[4]}"
founders="$PEERS"
PEERS="$founders,4@127.0.0.1:${NODE_PORT[4]}/127.0.0.1:${NODE_RAFT[4]}"
CLUSTER_EXTRA_ARGS="--join" _node_launch 4
CLUSTER_NODES=4
_node_wait_port 4
PEERS="$founders"
log "broker 4 started with --join (pid ${NODE_PID[4]})"

timeout 120 "$PYTHON" "$COMPAT_DIR/check-cluster-join.py" "$BOOTSTRAP" place
if cluster_tool unregister "$BOOTSTRAP" 4 >"$WORK/refused.txt" 2>&1; then
    fail "broker 4 was unregistered while it held a replica"
fi
log "unregistering broker 4 while it holds a replica is refused"
timeout 120 "$PYTHON" "$COMPAT_DIR/check-cluster-join.py" "$BOOTSTRAP" move
cluster_tool unregister "$BOOTSTRAP" 4
timeout 60 "$PYTHON" "$COMPAT_DIR/check-cluster-join.py" "$BOOTSTRAP" gone
node_stop 4
