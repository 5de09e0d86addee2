#!/usr/bin/env bash
# Crash durability: every record the broker acknowledged (acks=all) must
# survive a SIGKILL of the broker and be found at its acknowledged offset
# after a restart on the same data dir.
#
# Round 1: produce, wait for all acks, SIGKILL immediately after the last ack.
# Round 2: produce more; SIGKILL once some acks arrived while many more
#          records are still queued / in flight.
# Round 3: as round 2, but restart while the producer is still retrying.
# After each crash: restart, then verify all acks of all rounds so far
# (later rounds also check that the restarted broker doesn't reuse offsets)
# and that no record was duplicated.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

TOPIC="kill9-check-$$"
PARTS=3
K9="$COMPAT_DIR/kill9.py"

start_broker
timeout 60 "$PYTHON" "$K9" create "$BOOTSTRAP" "$TOPIC" "$PARTS"

crash_round() { # round count kill_after
    log "round $1: producing $2 records, SIGKILL after $3 acks"
    timeout 180 "$PYTHON" "$K9" produce "$BOOTSTRAP" "$TOPIC" --pid "$BROKER_PID" \
        --round "$1" --count "$2" --kill-after "$3" --acked "$WORK/acked-$1.txt"
    wait_broker_exit 15 || fail "broker still running after SIGKILL"
    log "restarting broker on the same data dir"
    restart_broker
    timeout 180 "$PYTHON" "$K9" verify "$BOOTSTRAP" "$TOPIC" "$PARTS" "$WORK"/acked-*.txt
}

# Round 3: like round 2, but the broker is restarted while the producer is
# still retrying, so the retried batches reach the restarted broker, which
# must deduplicate them (producer state has to survive the crash).
retry_round() { # round count kill_after
    log "round $1: producing $2 records, SIGKILL after $3 acks, restart while the producer retries"
    local marker="$WORK/killed-$1" prod_pid
    timeout 180 "$PYTHON" "$K9" produce "$BOOTSTRAP" "$TOPIC" --pid "$BROKER_PID" \
        --round "$1" --count "$2" --kill-after "$3" --acked "$WORK/acked-$1.txt" \
        --killed-marker "$marker" &
    prod_pid=$!
    local deadline=$((SECONDS + 120))
    until [[ -e "$marker" ]]; do
        kill -0 "$prod_pid" 2>/dev/null || break
        ((SECONDS < deadline)) || fail "producer never killed the broker"
        sleep 0.05
    done
    wait_broker_exit 15 || fail "broker still running after SIGKILL"
    log "restarting broker while the producer retries"
    restart_broker
    touch "$marker.restarted" # lets the producer count acks from the new broker
    wait "$prod_pid" || fail "round $1 producer failed"
    timeout 180 "$PYTHON" "$K9" verify "$BOOTSTRAP" "$TOPIC" "$PARTS" "$WORK"/acked-*.txt
}

crash_round 1 "${KILL9_ROUND1:-5000}" "${KILL9_ROUND1:-5000}"
crash_round 2 "${KILL9_ROUND2:-50000}" "${KILL9_KILL_AFTER:-3000}"
retry_round 3 "${KILL9_ROUND2:-50000}" "${KILL9_KILL_AFTER:-3000}"

log "PASS"
