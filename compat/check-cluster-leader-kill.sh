#!/usr/bin/env bash
# Leader failover under load, 3-node cluster, official Java producer (kafka-clients 4.3.1).
#
# A topic with 1 partition and replication factor 3. java/ClusterProducer writes
# sequence-numbered records to it continuously (idempotent, acks=all, retries unbounded,
# delivery.timeout.ms=120 s, CLUSTER_RATE records/s, default 500) and logs every acknowledged
# record with its offset. After CLUSTER_WARM_ACKS (1000) acks the partition's leader is
# SIGKILLed. The producer must ride over the failover without a single failed record and keep
# being acknowledged by the new leader for CLUSTER_AFTER_SECONDS (5). Then:
#   - FAILOVER_MS=<n>: from the kill to the first acknowledgement of a record whose send()
#     began after the kill (also printed: first ack of any record after the kill, the
#     producer's longest gap between two acks, and ELECTION_MS=<n>: from the kill until a
#     surviving node reports itself leader in its per-partition /metrics, polled every 0.1 s);
#     with Raft heartbeats of 150 ms and election timeouts of 600-1200 ms (leader lease 1200 ms)
#     a failover takes ~1.5-3 s: above CLUSTER_WARN_FAILOVER_MS (5000) is a warning, above
#     CLUSTER_MAX_FAILOVER_MS (15000) a failure (a leaderless partition for that long);
#   - java/ClusterVerify: every acknowledged record is in the log exactly once, at its acked
#     offset, seqs strictly ascending (read through the two surviving nodes);
#   - the killed node is restarted on its data dir and must catch up: its high watermark
#     (per-partition /metrics) reaches the log end; then leadership is moved to it (make_leader:
#     the third node is down during one more write, so once the leader is paused only the
#     restarted node has the whole log and can be elected) and ClusterVerify reads the
#     partition again with it as leader.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="leader-kill-$$"
RATE="${CLUSTER_RATE:-500}"
WARM="${CLUSTER_WARM_ACKS:-1000}"
AFTER="${CLUSTER_AFTER_SECONDS:-5}"
ACKS="$WORK/acked.txt"

# one more record (seq above all others), committed while a node is down (make_leader)
write_one() {
    java_run 90 ClusterProducer "$(live_bootstrap)" "$TOPIC" 0 "$WORK/acked-move.txt" count=1 start_seq=1000000000 \
        delivery_timeout_ms=30000 errors=none >>"$WORK/move.out" 2>&1 || { cat "$WORK/move.out"; return 1; }
}

java_build
cluster_start "$CLUSTER_NODES"
cluster_tool create "$BOOTSTRAP" "$TOPIC" 1 3

producer_start "$TOPIC" 0 "$ACKS" "$RATE" 150
wait_acks "$ACKS" "$WARM" 60 "$PRODUCER_PID"

leader="$(leader_of "$TOPIC" 0)"
meta="$(meta_leader_of "$TOPIC" 0)"
[[ "$meta" == "$leader" ]] || fail "Metadata says leader ${meta:-none} but node $leader reports itself leader of $TOPIC-0"
log "leader of $TOPIC-0 is node $leader ($(wc -l <"$ACKS") acks so far); SIGKILL"
node_kill9 "$leader"
kill_ms=$NODE_SIGNAL_MS # right after the SIGKILL (not before: a record sent in between could still be acked by it)

new="$(leader_of "$TOPIC" 0 30)"
election=$(($(date +%s%3N) - kill_ms))
echo "ELECTION_MS=$election"
log "node $new reports itself leader (Raft) $election ms after the kill"
deadline=$((SECONDS + 60))
until (($(acks_after "$ACKS" "$kill_ms") > 0)); do
    kill -0 "$PRODUCER_PID" 2>/dev/null || fail "producer exited before any record sent after the kill was acknowledged"
    ((SECONDS < deadline)) || fail "no record sent after the kill was acknowledged within 60 s"
    sleep 0.1
done
log "acks flow again; producing $AFTER s more"
sleep "$AFTER"
producer_stop

after=$(acks_after "$ACKS" "$kill_ms")
((after >= RATE * AFTER / 2)) || fail "only $after records sent after the kill were acknowledged"
# first ack of a record sent after the kill; first ack of any record after the kill
read -r failover first_any < <(awk -v t="$kill_ms" '
    $4 >= t && (a == "" || $5 < a) { a = $5 }
    $5 >= t && (b == "" || $5 < b) { b = $5 }
    END { print a - t, b - t }' "$ACKS")
meta_new="$(meta_leader_of "$TOPIC" 0)"
echo "FAILOVER_MS=$failover"
((failover <= ${CLUSTER_MAX_FAILOVER_MS:-15000})) \
    || fail "FAILOVER_MS=$failover: no record sent after the kill was acknowledged for more than ${CLUSTER_MAX_FAILOVER_MS:-15000} ms (ELECTION_MS=$election)"
((failover <= ${CLUSTER_WARN_FAILOVER_MS:-5000})) \
    || warn "leader-kill: FAILOVER_MS=$failover (ELECTION_MS=$election), expected ~1.5-3 s with 600-1200 ms election timeouts"
log "leader $leader killed -> node $new (Metadata: $meta_new); first ack of a record sent after the kill after $failover ms, first ack of any record after $first_any ms; $after records sent after the kill acknowledged"

log "verifying the partition through the surviving nodes"
java_run 180 ClusterVerify "$(live_bootstrap)" "$TOPIC" 0 "$ACKS" | tee "$WORK/verify-1.out"

end="$(node_metric "$new" broker_partition_high_watermark "$TOPIC" 0)"
end="${end%%.*}"
last_acked=$(awk '$3 >= m { m = $3 } END { print m + 1 }' "$ACKS")
[[ -n "$end" ]] || fail "no broker_partition_high_watermark for $TOPIC-0 on leader $new"
((end >= last_acked)) || fail "leader $new: high watermark $end, but offset $((last_acked - 1)) was acknowledged"

log "restarting node $leader; it must catch up to the high watermark $end"
node_restart "$leader"
t0=$SECONDS
wait_caught_up "$leader" "$TOPIC" 0 "$end" 60
log "node $leader caught up to $end in $((SECONDS - t0)) s (applied index $(node_metric "$leader" broker_raft_applied_index "$TOPIC" 0), leader's $(node_metric "$new" broker_raft_applied_index "$TOPIC" 0))"

if make_leader "$leader" "$TOPIC" 0 write_one; then
    log "reading $TOPIC-0 again with the restarted node $leader as leader"
    java_run 180 ClusterVerify "$(node_bootstrap "$leader")" "$TOPIC" 0 "$ACKS" "$WORK/acked-move.txt" | tee "$WORK/verify-2.out"
    [[ "$(leader_of "$TOPIC" 0)" == "$leader" ]] || warn "leadership moved away from node $leader during the read"
else
    fail "node $leader was not elected although it was the only node with the whole log (see make_leader in cluster.sh)"
fi
log "PASS (ELECTION_MS=$election FAILOVER_MS=$failover)"
