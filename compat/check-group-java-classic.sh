#!/usr/bin/env bash
# Consumer groups, classic protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup,
# OffsetCommit/OffsetFetch), with the official Java KafkaConsumer 4.3.1
# (group.protocol=classic, enable.auto.commit=false, commitSync after each
# batch). See java/GroupCheck.java:
#   split  two members split a 4-partition topic (disjoint, complete, seen by
#          ConsumerRebalanceListener); one leaves, the other continues exactly
#          at its committed offsets; no committed record is delivered twice;
#          a second group also reads every record
#   resume after a broker restart a new member resumes at the committed offsets
#   live-restart  a member that keeps running across a broker restart goes on
#          from its committed offsets
#   bench  BENCH line: time from a third member's subscribe() to all three
#          holding a complete, disjoint assignment (while consuming), over
#          GROUP_BENCH_ROUNDS rounds (default 3) plus a min/median/max line
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

PROTOCOL="${GROUP_PROTOCOL:-classic}"
N="${GROUP_RECORDS:-4000}"
TOPIC="group-$PROTOCOL-$$"
GROUP="g-$PROTOCOL-$$"

java_build
start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}"
if [[ "$PROTOCOL" == consumer ]]; then  # (GROUP_PROTOCOL=cooperative: classic + CooperativeStickyAssignor)
    require_apis 68:ConsumerGroupHeartbeat
fi

log "split/takeover/second group ($PROTOCOL protocol, $N records)"
java_run 240 GroupCheck split "$PROTOCOL" "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/state.properties" "$N" \
    | tee "$WORK/split.out"

log "restarting the broker"
restart_broker
java_run 180 GroupCheck resume "$PROTOCOL" "$BOOTSTRAP" "$TOPIC" "$GROUP" "$WORK/state.properties" \
    | tee "$WORK/resume.out"

log "live restart: a member keeps running while the broker restarts"
mkdir -p "$WORK/live"
java_run 240 GroupCheck live-restart "$PROTOCOL" "$BOOTSTRAP" "live-$TOPIC" "$GROUP-live" "$WORK/live" "$N" \
    >"$WORK/live.out" 2>&1 &
live_pid=$!
on_exit "kill $live_pid 2>/dev/null"
deadline=$((SECONDS + 120))
until [[ -e "$WORK/live/ready" ]]; do
    if ! kill -0 "$live_pid" 2>/dev/null || ((SECONDS > deadline)); then
        cat "$WORK/live.out"
        fail "live-restart member never got ready"
    fi
    sleep 0.2
done
restart_broker
touch "$WORK/live/restarted"
live_rc=0
wait "$live_pid" || live_rc=$?
cat "$WORK/live.out"
((live_rc == 0)) || fail "live-restart failed (exit $live_rc)"

# The classic figure depends on where the existing members are in their
# heartbeat cycle (heartbeat.interval.ms, 3 s by default) when the third
# joins, so several rounds, each on its own topic and group.
ROUNDS="${GROUP_BENCH_ROUNDS:-3}"
for r in $(seq "$ROUNDS"); do
    log "rebalance time for a group of 3, round $r/$ROUNDS"
    java_run 240 GroupCheck bench "$PROTOCOL" "$BOOTSTRAP" "bench$r-$TOPIC" "$GROUP-bench$r" \
        "${GROUP_BENCH_RECORDS:-20000}" | tee -a "$WORK/bench.out"
done
sed -n 's/^BENCH group-rebalance-3 [^ ]*: \([0-9]*\) ms.*/\1/p' "$WORK/bench.out" | sort -n \
    | awk -v p="$PROTOCOL" '{v[NR] = $1} END {
        printf "BENCH group-rebalance-3 protocol=%s summary: %d rounds, min %d ms, median %d ms, max %d ms\n",
            p, NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
log "PASS"
