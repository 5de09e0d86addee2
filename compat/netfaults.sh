#!/usr/bin/env bash
# One network or process fault on a 3-node cluster whose nodes each run in their own network
# namespace (compat/netns.sh), while an idempotent acks=all Java producer (java/ClusterProducer,
# NETFAULT_RATE records/s, default 300) and a Java consumer in a group with
# auto.offset.reset=none (java/FaultConsumer) run against a topic of 1 partition, RF 3.
#
# Usage: compat/netfaults.sh FAULT      (the compat/check-netfault-*.sh checks call it)
#   isolate-leader      every packet to/from the partition's leader dropped (clients' too)
#   isolate-follower    the same for a follower
#   minority-partition  the leader cut from both peers, while clients still reach it
#   flapping-link       the leader isolated and healed every second, 5 times
#   latency-200ms       200 ms more one-way delay on every Raft connection
#   loss-5pct           every node drops 5% of the packets it sends
#   sigstop-leader      the leader's process paused (SIGSTOP), then resumed
#   disk-full-leader    the leader's data dir (a tmpfs of NETFAULT_DISK_MB, default 512) filled
#                       to the last byte, then the filler removed. The leader's first failed
#                       write must stop it with exit status 1 (as Kafka stops when its last log
#                       dir fails), not crash it; its partitions fail over; after the heal it is
#                       started again, as systemd or Kubernetes would, and must catch up.
# Each fault lasts NETFAULT_SECONDS (10) after NETFAULT_WARM_ACKS (600) acknowledgements; after
# the heal the producer runs until a record sent after the heal is acknowledged, then 3 s more.
# Then:
#   - the producer must not have failed a single record;
#   - the consumer must have read every acknowledged record exactly once, in order, with offsets
#     going up by one (never back), and its group's committed offset must be its end position;
#   - java/ClusterVerify reads the partition again: every acknowledged record at its offset.
# Prints "NETFAULT fault=.. acked=.. lost=.. duplicated=.. recover_ms=.. max_ack_gap_ms=.."
# and appends it to $NETFAULT_RESULTS when set (scripts/faults builds its table from them).
# recover_ms: from the heal to the first acknowledgement of a record sent after it;
# max_ack_gap_ms: the producer's longest time without any acknowledgement.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"
# shellcheck source=compat/netns.sh
source "$COMPAT_DIR/netns.sh"

FAULT="${1:?usage: netfaults.sh FAULT}"
CHECK_NAME="netfault-$FAULT"
require_kbroker "a kbroker cluster in network namespaces"
TOPIC="netfault-$$"
RATE="${NETFAULT_RATE:-300}"
WARM="${NETFAULT_WARM_ACKS:-600}"
HOLD="${NETFAULT_SECONDS:-10}"
ACKS="$WORK/acked.txt"
CONSUMED="$WORK/consumed.txt"

case "$FAULT" in
isolate-leader | isolate-follower | minority-partition | flapping-link | loss-5pct | sigstop-leader) ;;
latency-200ms)
    NETNS_DELAY_PROXY=1
    # openraft times out each AppendEntries after one heartbeat interval: with 400 ms round
    # trips the default 150 ms commits nothing, so this cluster is configured for a slow link
    echo "raft_heartbeat_interval_ms = ${NETFAULT_HEARTBEAT_MS:-600}" >"$WORK/raft.toml"
    CLUSTER_EXTRA_ARGS="${CLUSTER_EXTRA_ARGS:-} --config $WORK/raft.toml"
    ;;
disk-full-leader)
    # 16 KiB records (5 MB/s): enough to run past what RocksDB preallocated for its WAL and
    # to need memtable flushes while the disk is full
    PRODUCER_ARGS="size=16384"
    HOLD="${NETFAULT_SECONDS:-20}"
    for i in 1 2 3; do
        NODE_DATA_DIR[i]="$WORK/disk-$i"
        mkdir -p "${NODE_DATA_DIR[$i]}"
        mount -t tmpfs -o "size=${NETFAULT_DISK_MB:-512}m" "kbfault$$" "${NODE_DATA_DIR[$i]}" \
            || fail "cannot mount a tmpfs (root needed)"
    done
    # lazily: this hook runs before the nodes are stopped
    on_exit 'for i in 1 2 3; do umount -l "${NODE_DATA_DIR[$i]}" 2>/dev/null; done'
    ;;
*) fail "unknown fault $FAULT" ;;
esac

java_build
cluster_start 3
cluster_tool create "$BOOTSTRAP" "$TOPIC" 1 3

producer_start "$TOPIC" 0 "$ACKS" "$RATE" 240
java_run 300 FaultConsumer "$BOOTSTRAP" "$TOPIC" 0 "$CONSUMED" "netfault-$$" "$WORK/stop-consumer" 240 \
    >"$WORK/consumer.out" 2>&1 &
CONSUMER_PID=$!
track_pid "$CONSUMER_PID"
on_exit '[[ ${rc:-0} == 0 ]] || { echo "----- consumer output -----" >&2; tail -n 30 "$WORK/consumer.out" >&2; }'
wait_acks "$ACKS" "$WARM" 90 "$PRODUCER_PID"

leader="$(leader_of "$TOPIC" 0)"
follower=$((leader % 3 + 1))
log "leader of $TOPIC-0: node $leader; fault $FAULT for $HOLD s"
fault_ms=$(date +%s%3N)
case "$FAULT" in
isolate-leader) net_isolate "$leader" ;;
isolate-follower) net_isolate "$follower" ;;
minority-partition) net_cut_peers "$leader" ;;
latency-200ms) net_delay 200 ;;
loss-5pct) net_loss 5 ;;
sigstop-leader) node_pause "$leader" ;;
disk-full-leader)
    dd if=/dev/zero of="${NODE_DATA[$leader]}/filler" bs=1M 2>/dev/null || true
    log "node $leader's disk is full: $(df -h --output=avail "${NODE_DATA[$leader]}" | tail -1) left"
    ;;
flapping-link) ;;
esac
if [[ "$FAULT" == flapping-link ]]; then
    for _ in 1 2 3 4 5; do
        net_isolate "$leader"
        sleep 1
        net_heal "$leader"
        sleep 1
    done
    sleep $((HOLD > 10 ? HOLD - 10 : 0))
else
    sleep "$HOLD"
fi
during=$(acks_after "$ACKS" "$fault_ms")
case "$FAULT" in
sigstop-leader) node_resume "$leader" ;;
disk-full-leader) rm -f "${NODE_DATA[$leader]}/filler" ;;
*) net_heal ;;
esac
heal_ms=$(date +%s%3N)
if [[ "$FAULT" == disk-full-leader ]]; then
    ! node_alive "$leader" || fail "node $leader still runs after $HOLD s with a full disk (no write failed?)"
    status=0
    wait "${NODE_PID[$leader]}" || status=$?
    echo "==== exited status=$status (disk full)" >>"${NODE_LOG[$leader]}"
    NODE_PID[leader]=""
    NODE_STATE[leader]=down
    ((status == 1)) || fail "node $leader exited with status $status on a full disk, expected 1"
    grep -q "a write to the data dir failed: stopping" "${NODE_LOG[$leader]}" \
        || fail "node $leader did not say why it stopped"
    log "node $leader stopped with status 1 on the full disk; starting it again"
    node_restart "$leader"
fi

deadline=$((SECONDS + 90))
until (($(acks_after "$ACKS" "$heal_ms") > 0)); do
    kill -0 "$PRODUCER_PID" 2>/dev/null || fail "producer exited before a record sent after the heal was acknowledged"
    ((SECONDS < deadline)) || fail "no record sent after the heal was acknowledged within 90 s"
    sleep 0.1
done
sleep 3
producer_stop

touch "$WORK/stop-consumer"
consumer_rc=0
wait "$CONSUMER_PID" || consumer_rc=$?
untrack_pid "$CONSUMER_PID"
show_output "$WORK/consumer.out"
((consumer_rc == 0)) || fail "consumer failed (exit $consumer_rc)"

if [[ "$FAULT" == disk-full-leader ]]; then
    end="$(node_metric "$(leader_of "$TOPIC" 0)" broker_partition_high_watermark "$TOPIC" 0)"
    end="${end%%.*}"
    for i in 1 2 3; do wait_caught_up "$i" "$TOPIC" 0 "$end" 60; done
    log "every node, the restarted one too, has the partition up to offset $end"
fi
java_run 180 ClusterVerify "$(live_bootstrap)" "$TOPIC" 0 "$ACKS" >"$WORK/verify.out" 2>&1 \
    || { show_output "$WORK/verify.out"; fail "ClusterVerify failed"; }
show_output "$WORK/verify.out"

# every acknowledged seq read by the consumer exactly once; the seqs it read strictly ascending
read -r acked lost duplicated disorder < <(awk '
    FNR == NR { acked[$1] = 1; n++; next }
    { seen[$2]++; if (started && $2 + 0 <= last) disorder++; last = $2 + 0; started = 1 }
    END {
        for (s in acked) { if (!(s in seen)) lost++; else if (seen[s] > 1) dup++ }
        print n + 0, lost + 0, dup + 0, disorder + 0
    }' "$ACKS" "$CONSUMED")
read -r recover gap < <(awk -v h="$heal_ms" '
    $4 >= h && (a == "" || $5 < a) { a = $5 }
    NR > 1 && $5 - m > g { g = $5 - m }
    NR == 1 || $5 > m { m = $5 }
    END { print a - h, g + 0 }' "$ACKS")
result="NETFAULT fault=$FAULT acked=$acked lost=$lost duplicated=$duplicated recover_ms=$recover max_ack_gap_ms=$gap acked_during_fault=$during"
echo "$result"
[[ -n "${NETFAULT_RESULTS:-}" ]] && echo "$result" >>"$NETFAULT_RESULTS"
((lost == 0 && duplicated == 0 && disorder == 0)) \
    || fail "consumer: $lost acknowledged records not read, $duplicated read twice, $disorder out of order"
log "PASS: $acked acknowledged records, each read exactly once and in order; recovered $recover ms after the heal"
