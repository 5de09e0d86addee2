#!/usr/bin/env bash
# Replicas hold the same records after compaction (issue 18), on a 3-node loopback cluster,
# with kafka-python (check-cluster-compaction.py). A compacted topic (replication factor 3)
# gets 2,000 keys x 20 updates and tombstones for a tenth of them; once the leader has
# compacted (one record per key read back), each node in turn is made the leader
# (make_leader) and everything below the compacted end is read from it: the three dumps
# (offset, key, value) must be identical, one record per key. Each Compact is a Raft entry
# every replica applies; this checks that what they apply comes out the same.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

step() { timeout 120 "$PYTHON" "$COMPAT_DIR/check-cluster-compaction.py" "$(live_bootstrap)" "$@"; }
KEYS=2000

export KAFKA_LOG_CLEANER_BACKOFF_MS=500
cluster_start 3
step create compacted || fail "create"
upto="$(step fill compacted "$KEYS" 20)" || fail "fill"
log "filled; the roll record is at offset $upto"
step wait compacted "$upto" "$KEYS" || fail "the leader did not compact"
for node in 1 2 3; do
    make_leader "$node" compacted 0 "step write compacted" || fail "node $node did not become leader"
    step dump compacted "$upto" "$node" "$WORK/replica-$node.txt" || fail "reading from node $node"
done
for node in 2 3; do
    diff -q "$WORK/replica-1.txt" "$WORK/replica-$node.txt" >/dev/null \
        || { diff "$WORK/replica-1.txt" "$WORK/replica-$node.txt" | head -5 >&2; fail "node $node's records differ from node 1's"; }
done
[[ "$(wc -l <"$WORK/replica-1.txt")" -eq "$KEYS" ]] || fail "$(wc -l <"$WORK/replica-1.txt") records, expected one per key"
log "all three replicas serve the same $KEYS records (offsets, keys, values) after compaction"
log "PASS"
