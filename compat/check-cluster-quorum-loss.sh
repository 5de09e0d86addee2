#!/usr/bin/env bash
# Quorum loss, 3-node cluster, official Java producer (kafka-clients 4.3.1, idempotent, acks=all).
#
# A topic with 1 partition and replication factor 3.
#   1. 3000 records acknowledged with all three nodes up.
#   2. both followers SIGKILLed, the leader alone: an acks=all producer with a short
#      delivery.timeout.ms (10 s) sends for a few seconds; not one record may be acknowledged
#      (acks=all needs a quorum) and every failure must be a RetriableException
#      (TimeoutException, NotLeaderOrFollowerException, NotEnoughReplicasException, ...).
#      This producer is not idempotent: the Java idempotent producer never expires records
#      while it has no producer id (it only retries InitProducerId then). Instead, InitProducerId
#      itself is probed on the live node (compat/kprobe.py, while that producer runs): it must
#      be answered within 15 s (the broker gives up committing a new producer id block after
#      10 s), with a producer id or an error code, and a Metadata request pipelined behind it
#      right after (checked at the end, so the other steps still run). INITPID_MS= lines.
#   3. the two are restarted: every record acknowledged before is still there exactly once at
#      its offset (java/ClusterVerify; records of step 2 may or may not be there, even more than
#      once: their outcome was unknown to a non-idempotent producer), and 2000 new records are
#      acknowledged (idempotent producer).
#   4. the leader and one follower SIGKILLed, a follower alone: as step 2.
#   5. both restarted: as step 3, all acknowledged records of all steps verified.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

TOPIC="quorum-loss-$$"

# produce_ok STEP COUNT START_SEQ: all records must be acknowledged
produce_ok() {
    log "step $1: producing $2 records (all must be acknowledged)"
    java_run 180 ClusterProducer "$BOOTSTRAP" "$TOPIC" 0 "$WORK/acked-$1.txt" count="$2" rate=2000 \
        start_seq="$3" seconds=120 delivery_timeout_ms=120000 errors=none >"$WORK/producer-$1.out" 2>&1 \
        || { cat "$WORK/producer-$1.out"; fail "step $1: producer failed"; }
    tail -n 2 "$WORK/producer-$1.out"
    [[ "$(wc -l <"$WORK/acked-$1.txt")" == "$2" ]] || fail "step $1: $(wc -l <"$WORK/acked-$1.txt") of $2 acknowledged"
}

# produce_no_quorum STEP START_SEQ: no record may be acknowledged; every failure retriable.
# A plain (non-idempotent) acks=all producer: the Java idempotent producer does not expire
# records while it waits for a producer id (its Sender only retries InitProducerId then), so
# it could not show the produce errors; InitProducerId is probed separately below.
produce_no_quorum() {
    log "step $1: producing without a quorum (acks=all, delivery.timeout.ms=10000); nothing may be acknowledged"
    local rc=0
    java_run 120 ClusterProducer "$BOOTSTRAP" "$TOPIC" 0 "$WORK/acked-$1.txt" count=40 rate=10 seconds=4 \
        start_seq="$2" idempotence=false delivery_timeout_ms=10000 request_timeout_ms=3000 max_block_ms=3000 \
        errors=retriable expect_acks=0 >"$WORK/producer-$1.out" 2>&1 || rc=$?
    show_output "$WORK/producer-$1.out"
    local acked failed
    acked=$(wc -l <"$WORK/acked-$1.txt")
    failed=$(wc -l <"$WORK/acked-$1.txt.errors")
    ((acked == 0)) || fail "step $1: $acked records acknowledged (acks=all) with 2 of 3 brokers down"
    ((rc == 0)) || fail "step $1: producer failed (exit $rc): a non-retriable error, or records never completed (see above)"
    ((failed > 0)) || fail "step $1: no record failed"
    log "step $1: 0 acknowledged, $failed failed, all with retriable errors: $(awk '{print $5}' "$WORK/acked-$1.txt.errors" | sort | uniq -c | tr -s ' \n' ' ')"
    AT_LEAST_ONCE+="${AT_LEAST_ONCE:+,}$2-$(($2 + 99999))"
}

# probe_init_pid_start STEP / probe_init_pid_wait STEP: an idempotent producer's InitProducerId
# must be answered (a producer id or an error code) by each live node within INITPID_LIMIT
# seconds, also without a quorum (kprobe.py: raw protocol, with a Metadata request queued
# behind it on the same connection, which must be answered right after it). The broker bounds
# the commit of a new producer id block to 10 s and then answers COORDINATOR_LOAD_IN_PROGRESS,
# so 15 s leaves 5 s of slack and stays well under the Java client's request.timeout.ms (30 s).
# Runs in the background, alongside produce_no_quorum.
INITPID_LIMIT=15
INITPID_PROBLEMS=""
probe_init_pid_start() {
    local i
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ "${NODE_STATE[$i]}" == up ]] || continue
        {
            local prc=0
            "$PYTHON" "$COMPAT_DIR/kprobe.py" init-producer-id "$(node_bootstrap "$i")" "$INITPID_LIMIT" \
                >"$WORK/initpid-$1-$i.out" 2>&1 || prc=$?
            echo "$prc" >"$WORK/initpid-$1-$i.rc"
        } &
        track_pid $!
        INITPID_PIDS+=("$!")
    done
}
probe_init_pid_wait() {
    local i pid out
    for pid in "${INITPID_PIDS[@]}"; do
        wait "$pid" || true
        untrack_pid "$pid"
    done
    INITPID_PIDS=()
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ -e "$WORK/initpid-$1-$i.rc" ]] || continue
        out="$(paste -sd ' ' "$WORK/initpid-$1-$i.out")"
        log "step $1, node $i: $out"
        echo "INITPID_MS step=$1 node=$i $(sed -nE 's/^InitProducerId answered in ([0-9]+) ms.*error_code=(-?[0-9]+).*/\1 error_code=\2/p' "$WORK/initpid-$1-$i.out")"
        [[ "$(cat "$WORK/initpid-$1-$i.rc")" == 0 ]] \
            || INITPID_PROBLEMS+="step $1 (node $i alone): $(head -n 1 "$WORK/initpid-$1-$i.out"); "
    done
}
INITPID_PIDS=()

AT_LEAST_ONCE=""
verify_all() {
    java_run 180 -Dverify.at.least.once="$AT_LEAST_ONCE" ClusterVerify "$(live_bootstrap)" "$TOPIC" 0 "$WORK"/acked-*.txt | tee -a "$WORK/verify.out"
}

java_build
cluster_start "$CLUSTER_NODES"
cluster_tool create "$BOOTSTRAP" "$TOPIC" 1 3

produce_ok 1 3000 0

leader="$(leader_of "$TOPIC" 0)"
followers=()
for ((i = 1; i <= CLUSTER_NODES; i++)); do ((i == leader)) || followers+=("$i"); done
log "step 2: leader is node $leader; SIGKILL followers ${followers[*]}"
for i in "${followers[@]}"; do node_kill9 "$i"; done
probe_init_pid_start 2
produce_no_quorum 2 100000
probe_init_pid_wait 2

log "step 3: restarting nodes ${followers[*]}"
for i in "${followers[@]}"; do node_restart "$i"; done
leader_of "$TOPIC" 0 60 >/dev/null
verify_all
produce_ok 3 2000 200000
verify_all

leader="$(leader_of "$TOPIC" 0)"
for ((i = 1; i <= CLUSTER_NODES; i++)); do ((i == leader)) || { other=$i; break; }; done
log "step 4: SIGKILL the leader $leader and follower $other"
node_kill9 "$leader"
node_kill9 "$other"
probe_init_pid_start 4
produce_no_quorum 4 300000
probe_init_pid_wait 4

log "step 5: restarting nodes $leader and $other"
node_restart "$leader"
node_restart "$other"
leader_of "$TOPIC" 0 60 >/dev/null
verify_all
produce_ok 5 2000 400000
verify_all
[[ -z "$INITPID_PROBLEMS" ]] || fail "InitProducerId (or the Metadata request behind it) not answered in time without a quorum: $INITPID_PROBLEMS(a Kafka broker answers it from a pre-allocated producer id block, or with a retriable error such as COORDINATOR_LOAD_IN_PROGRESS; the Java idempotent producer waits on it and, since a connection's responses come in order, so does everything queued behind it, Metadata included)"
log "PASS"
