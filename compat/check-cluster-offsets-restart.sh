#!/usr/bin/env bash
# Committed offsets survive coordinator failover and full-cluster restarts (issue 20), 3-node
# cluster, official Java consumer (java/CommitCheck.java): three groups each commit 5
# partitions of two replicated topics (3 + 2) in ONE commitSync; committed() must return every
# one of them, with its metadata:
#   1. after the first group's coordinator is SIGKILLed right after the last acknowledged
#      commit (another node takes over its __consumer_offsets partition), read via the others;
#   2. after every node is SIGKILLed right after the last acknowledged commit and restarted;
#   3. after every node is stopped with SIGTERM and restarted.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="cluster-commits-$$"
GROUPS_LIST="ccg-a-$$,ccg-b-$$,ccg-c-$$"

java_build
cluster_start "$CLUSTER_NODES"
java_run 120 CommitCheck create "$BOOTSTRAP" "$TOPIC" 3 >"$WORK/create.out" 2>&1 \
    || { cat "$WORK/create.out" >&2; fail "creating the topics"; }

commit() { # ROUND BASE
    java_run 180 CommitCheck commit "$(live_bootstrap)" "$TOPIC" "$GROUPS_LIST" "$2" "$WORK/before-$1.txt" \
        >"$WORK/commit-$1.out" 2>&1 || { cat "$WORK/commit-$1.out" >&2; fail "round $1: commit"; }
}

compare() { # ROUND WHAT
    java_run 180 CommitCheck committed "$(live_bootstrap)" "$TOPIC" "$GROUPS_LIST" "$WORK/after-$1.txt" \
        >"$WORK/committed-$1.out" 2>&1 || { cat "$WORK/committed-$1.out" >&2; fail "round $1: committed()"; }
    diff -u "$WORK/before-$1.txt" "$WORK/after-$1.txt" >&2 \
        || fail "round $1 ($2): committed offsets differ"
    log "round $1: all $(wc -l <"$WORK/after-$1.txt") committed offsets equal after $2"
}

# Every node at once: with two of three down no node is ready, so all start before any wait.
restart_all() {
    local i
    for ((i = 1; i <= CLUSTER_NODES; i++)); do _node_launch "$i"; done
    for ((i = 1; i <= CLUSTER_NODES; i++)); do _node_wait_port "$i"; done
    for ((i = 1; i <= CLUSTER_NODES; i++)); do _node_wait_ready "$i" 1; done
}

first_group="${GROUPS_LIST%%,*}"
commit 1 1000
# A read (DescribeGroups) between the last acknowledged commit and the kill; the group
# exists only once it has committed.
coord="$(cluster_tool coordinator "$BOOTSTRAP" "$first_group" | tail -n 1)"
[[ "$coord" =~ ^[0-9]+$ ]] || fail "no coordinator for $first_group: $coord"
node_kill9 "$coord"
compare 1 "a failover from coordinator node $coord"
node_restart "$coord"

commit 2 5000
for ((i = 1; i <= CLUSTER_NODES; i++)); do node_kill9 "$i"; done
restart_all
compare 2 "a SIGKILL of every node"

commit 3 9000
for ((i = 1; i <= CLUSTER_NODES; i++)); do node_stop "$i"; done
restart_all
compare 3 "a SIGTERM restart of every node"
log "PASS"
