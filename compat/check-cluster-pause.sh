#!/usr/bin/env bash
# A paused (SIGSTOPped) broker, 3-node cluster, official Java producer (kafka-clients 4.3.1).
#
# A topic with 1 partition and replication factor 3; java/ClusterProducer writes to it
# continuously (idempotent, acks=all, delivery.timeout.ms=120 s, CLUSTER_RATE records/s,
# default 500) for the whole check and may not lose a single record.
#   1. follower: a follower of the partition is paused for CLUSTER_PAUSE_SECONDS (6): acks=all
#      writes must keep being acknowledged by the leader and the other follower meanwhile
#      (at least a quarter of the offered rate, measured over the pause minus its first second);
#      then SIGCONT.
#      If the leadership moved when the follower came back, that is reported as a warning.
#   2. leader: the leader is paused; the producer must fail over to a newly elected leader
#      (PAUSE_ELECTION_MS=<n>: from the SIGSTOP until a live node reports itself leader;
#      PAUSE_FAILOVER_MS=<n>: to the first ack of a record sent after the SIGSTOP, which includes
#      the producer's request.timeout.ms, CLUSTER_REQUEST_TIMEOUT_MS=5000, since the paused
#      node's connections stay open; more than request.timeout.ms + 10 s fails the check) and is
#      acknowledged by it for CLUSTER_PAUSE_SECONDS; then
#      the old leader gets SIGCONT while the producer goes on (it must step down; nothing it
#      held may be acknowledged twice).
#   3. the producer stops; java/ClusterVerify: every acknowledged record exactly once at its
#      acked offset, seqs ascending. Both resumed nodes must catch up: their high watermark
#      (per-partition /metrics) reaches the leader's. Then leadership is moved to the node that
#      was paused as leader (make_leader in cluster.sh) and ClusterVerify reads the partition
#      through it.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="pause-$$"
RATE="${CLUSTER_RATE:-500}"
PAUSE="${CLUSTER_PAUSE_SECONDS:-6}"
# A paused leader keeps its TCP connections open: the producer only gives up on the requests
# in flight to it after request.timeout.ms (Kafka's default is 30 s) and then looks for the
# new leader, so this bounds PAUSE_FAILOVER_MS from below.
REQUEST_TIMEOUT_MS="${CLUSTER_REQUEST_TIMEOUT_MS:-5000}"
ACKS="$WORK/acked.txt"
now_ms() { date +%s%3N; }
# acks_between FILE FROM_MS TO_MS: records acknowledged in [FROM, TO)
acks_between() { awk -v a="$2" -v b="$3" '$5 >= a && $5 < b { n++ } END { print n + 0 }' "$1"; }

# one more record (seq above all others), committed while a node is down (make_leader)
write_one() {
    java_run 90 ClusterProducer "$(live_bootstrap)" "$TOPIC" 0 "$WORK/acked-move.txt" count=1 start_seq=1000000000 \
        delivery_timeout_ms=30000 errors=none >>"$WORK/move.out" 2>&1 || { cat "$WORK/move.out"; return 1; }
}

java_build
cluster_start "$CLUSTER_NODES"
cluster_tool create "$BOOTSTRAP" "$TOPIC" 1 3

log "producing to $TOPIC-0 at $RATE records/s"
java_run 270 ClusterProducer "$BOOTSTRAP" "$TOPIC" 0 "$ACKS" rate="$RATE" seconds=200 \
    stop_file="$WORK/stop" delivery_timeout_ms=120000 request_timeout_ms="$REQUEST_TIMEOUT_MS" errors=none >"$WORK/producer.out" 2>&1 &
prod=$!
track_pid "$prod"
on_exit '[[ ${rc:-0} == 0 ]] || { echo "----- producer output -----" >&2; tail -n 40 "$WORK/producer.out" >&2; }'
wait_acks "$ACKS" 1000 60 "$prod"

# ---- 1. pause a follower
leader="$(leader_of "$TOPIC" 0)"
for ((f = 1; f <= CLUSTER_NODES; f++)); do ((f != leader)) && break; done
log "leader of $TOPIC-0 is node $leader; pausing follower $f for $PAUSE s"
node_pause "$f"
t_pause=$NODE_SIGNAL_MS
sleep "$PAUSE"
t_end=$(now_ms)
during=$(acks_between "$ACKS" $((t_pause + 1000)) "$t_end")
node_resume "$f"
want=$((RATE * (PAUSE - 1) / 4))
log "$during records acknowledged while follower $f was paused (from 1 s after the SIGSTOP; offered $((RATE * (PAUSE - 1))))"
((during >= want)) || fail "only $during acks while follower $f was paused (expected at least $want): acks=all needs only 2 of 3 replicas"
kill -0 "$prod" 2>/dev/null || fail "producer exited"
sleep 2

# ---- 2. pause the leader
prev=$leader
leader="$(leader_of "$TOPIC" 0)"
if [[ "$leader" != "$prev" ]]; then
    warn "pause: the leadership of $TOPIC-0 moved from node $prev to node $leader after the paused follower $f resumed (a rejoining follower forced an election)"
fi
log "pausing the leader, node $leader"
node_pause "$leader"
t_pause=$NODE_SIGNAL_MS # right after the SIGSTOP: a record sent before it may still be acked by this node
new="$(leader_of "$TOPIC" 0 30)"
election=$(($(now_ms) - t_pause))
echo "PAUSE_ELECTION_MS=$election"
log "node $new reports itself leader (Raft) $election ms after the SIGSTOP"
deadline=$((SECONDS + 60))
until (($(acks_after "$ACKS" "$t_pause") > 0)); do
    kill -0 "$prod" 2>/dev/null || fail "producer exited before a record sent after the SIGSTOP was acknowledged"
    ((SECONDS < deadline)) || fail "no record sent after pausing leader $leader was acknowledged within 60 s"
    sleep 0.1
done
failover=$(awk -v t="$t_pause" '$4 >= t && (a == "" || $5 < a) { a = $5 } END { print a - t }' "$ACKS")
echo "PAUSE_FAILOVER_MS=$failover"
((failover <= REQUEST_TIMEOUT_MS + 10000)) \
    || fail "PAUSE_FAILOVER_MS=$failover: more than request.timeout.ms ($REQUEST_TIMEOUT_MS) + 10 s without an ack of a record sent after the SIGSTOP (PAUSE_ELECTION_MS=$election)"
log "first ack of a record sent after the SIGSTOP after $failover ms (the producer's request.timeout.ms is $REQUEST_TIMEOUT_MS); producing $PAUSE s against node $new"
t1=$(now_ms)
sleep "$PAUSE"
during=$(acks_between "$ACKS" "$t1" "$(now_ms)")
((during >= RATE * PAUSE / 4)) || fail "only $during acks in $PAUSE s with the old leader $leader paused"
node_resume "$leader"
log "old leader $leader resumed; producing 3 s more"
sleep 3
touch "$WORK/stop"
prod_rc=0
wait "$prod" || prod_rc=$?
untrack_pid "$prod"
show_output "$WORK/producer.out"
((prod_rc == 0)) || fail "producer failed (exit $prod_rc)"
log "$(wc -l <"$ACKS") records acknowledged in all"

# ---- 3. verify, catch-up
java_run 180 ClusterVerify "$BOOTSTRAP" "$TOPIC" 0 "$ACKS" | tee "$WORK/verify-1.out"
cur="$(leader_of "$TOPIC" 0)"
end="$(node_metric "$cur" broker_partition_high_watermark "$TOPIC" 0)"
end="${end%%.*}"
[[ -n "$end" ]] || fail "no broker_partition_high_watermark for $TOPIC-0 on leader $cur"
for n in "$f" "$leader"; do
    wait_caught_up "$n" "$TOPIC" 0 "$end" 60
    log "node $n (paused earlier) caught up to the high watermark $end"
done
if make_leader "$leader" "$TOPIC" 0 write_one; then
    log "reading $TOPIC-0 with node $leader (paused as leader earlier) as leader"
    java_run 180 ClusterVerify "$(node_bootstrap "$leader")" "$TOPIC" 0 "$ACKS" "$WORK/acked-move.txt" | tee "$WORK/verify-2.out"
else
    fail "node $leader was not elected although it was the only node with the whole log (see make_leader in cluster.sh)"
fi
log "PASS (PAUSE_ELECTION_MS=$election PAUSE_FAILOVER_MS=$failover)"
