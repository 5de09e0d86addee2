#!/usr/bin/env bash
# Controlled shutdown, 3-node cluster, official Java producer (kafka-clients 4.3.1).
#
# A topic with 3 partitions and replication factor 3 (the first replica leads, so each node
# leads one). java/ClusterProducer writes to partition 0 continuously (idempotent, acks=all).
# After CLUSTER_WARM_ACKS (500) acks the partition's leader gets SIGTERM, as systemd or
# Kubernetes stop it. Before it stops it must hand every partition it leads to an in-sync
# replica (its log says "handed partition leadership over before stopping" with moved = led),
# so the producer rides over the stop without a failed record. Prints FAILOVER_MS (from the
# SIGTERM to the first ack of a record sent after it); then java/ClusterVerify reads the
# partition through the two other nodes: every acknowledged record exactly once, in order.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="graceful-stop-$$"
RATE="${CLUSTER_RATE:-500}"
WARM="${CLUSTER_WARM_ACKS:-500}"
ACKS="$WORK/acked.txt"

java_build
cluster_start "$CLUSTER_NODES"
cluster_tool create "$BOOTSTRAP" "$TOPIC" 3 3

producer_start "$TOPIC" 0 "$ACKS" "$RATE" 120
wait_acks "$ACKS" "$WARM" 60 "$PRODUCER_PID"

leader="$(leader_of "$TOPIC" 0)"
log "leader of $TOPIC-0 is node $leader; SIGTERM"
stop_ms=$(date +%s%3N)
node_stop "$leader"
log "node $leader exited $(($(date +%s%3N) - stop_ms)) ms after SIGTERM"
handed="$(grep -a "handed partition leadership over before stopping" "${NODE_LOG[$leader]}" | tail -1)"
[[ -n "$handed" ]] || fail "node $leader did not hand its leadership over (no log line)"
moved="$(sed -nE 's/.*moved=([0-9]+).*/\1/p' <<<"$handed")"
led="$(sed -nE 's/.*led=([0-9]+).*/\1/p' <<<"$handed")"
((led >= 1)) || fail "node $leader led no partition when it stopped: $handed"
((moved == led)) || fail "node $leader handed over $moved of the $led partitions it led: $handed"
log "node $leader handed over $moved of $led partitions"

deadline=$((SECONDS + 60))
until (($(acks_after "$ACKS" "$stop_ms") > RATE)); do
    kill -0 "$PRODUCER_PID" 2>/dev/null || fail "producer exited before records sent after the stop were acknowledged"
    ((SECONDS < deadline)) || fail "records sent after the stop were not acknowledged within 60 s"
    sleep 0.2
done
producer_stop
failover="$(awk -v t="$stop_ms" '$4 >= t && (a == "" || $5 < a) { a = $5 } END { print a - t }' "$ACKS")"
echo "FAILOVER_MS=$failover"
log "first ack of a record sent after the SIGTERM after $failover ms (new leader: node $(leader_of "$TOPIC" 0))"

log "verifying the partition through the other nodes"
java_run 180 ClusterVerify "$(live_bootstrap)" "$TOPIC" 0 "$ACKS" | tee "$WORK/verify.out"
log "PASS (handed over $moved/$led, FAILOVER_MS=$failover)"
