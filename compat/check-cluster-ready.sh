#!/usr/bin/env bash
# Readiness on a 3-node cluster: a node answers Kafka requests only from an applied cluster
# metadata image (its first Metadata answer, sent the moment its port accepts, already has the
# cluster id and all three brokers), and CreateTopics answers once every new partition has a
# leader (Metadata from every node right after it shows them). Raw frames: no client retries.
# See check-cluster-ready.py. ~20 s.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

require_kbroker "a kbroker cluster started node by node"
# cluster_start, with the first answers probed while the nodes start.
CLUSTER_NODES=3
read -r -a ports <<<"$(free_ports 9)"
PEERS=""
for i in 1 2 3; do
    node_define "$i" "${ports[@]:$((3 * (i - 1))):3}"
    mkdir -p "${NODE_DATA[$i]}"
    PEERS+="${PEERS:+,}$i@127.0.0.1:${NODE_PORT[$i]}/127.0.0.1:${NODE_RAFT[$i]}"
done
addresses=()
for i in 1 2 3; do addresses+=("127.0.0.1:${NODE_PORT[$i]}"); done
BOOTSTRAP="$(IFS=,; echo "${addresses[*]}")"
export BOOTSTRAP PEERS
CLUSTER_STARTED=1
on_exit _cluster_exit
# Node 1 alone has no metadata quorum: it must not answer until nodes 2 and 3 are up and the
# cluster is formed (before, it answered at once: no cluster id, itself as the only broker).
_node_launch 1
timeout 90 "$PYTHON" "$COMPAT_DIR/check-cluster-ready.py" first-answer 3 "${addresses[0]}" \
    >"$WORK/first-answer-1.txt" 2>&1 &
probe=$!
track_pid "$probe"
sleep 3
_node_launch 2
_node_launch 3
timeout 90 "$PYTHON" "$COMPAT_DIR/check-cluster-ready.py" first-answer 3 "${addresses[@]:1}" \
    || fail "a node answered Metadata before applying the cluster metadata"
wait "$probe" || { cat "$WORK/first-answer-1.txt" >&2; fail "node 1 answered Metadata before applying the cluster metadata"; }
untrack_pid "$probe"
cat "$WORK/first-answer-1.txt"
for i in 1 2 3; do _node_wait_port "$i"; done
for i in 1 2 3; do _node_wait_ready "$i" 1; done
log "every node's first answer had the cluster id and 3 brokers"

for factor in 1 2 3; do
    timeout 60 "$PYTHON" "$COMPAT_DIR/check-cluster-ready.py" create "ready-$factor" 6 "$factor" "${addresses[@]}" \
        || fail "CreateTopics answered before its partitions had leaders (replication factor $factor)"
done
log "CreateTopics answered with leaders for every partition, seen by every node (replication factors 1-3)"
