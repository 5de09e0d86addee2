#!/usr/bin/env bash
# What scraping costs (informational, not part of run-all): produce throughput
# of one broker with no scraper, with a plain GET /metrics every second (the
# broker's own cost), and with a real Prometheus scraping every second (which
# also competes for this machine's two cores, as it would not in production),
# alternating over the same broker process so all see the same machine state.
# Also times /metrics itself. Prints BENCH lines.
#
#   compat/bench-metrics.sh                       # 4 x 200,000 x 1 KiB per mode
#   BENCH_RECORDS=500000 BENCH_ROUNDS=3 compat/bench-metrics.sh
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "kbroker metrics listener"

N="${BENCH_RECORDS:-200000}"
SIZE="${BENCH_SIZE:-1024}"
ROUNDS="${BENCH_ROUNDS:-4}"

start_broker
# CPU seconds the broker process has used: steadier than throughput on a busy
# machine, where other work moves records/s by tens of percent between runs.
broker_cpu_seconds() {
    awk -v ticks="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / ticks }' \
        "/proc/$BROKER_PID/stat"
}
run_phase() {
    local mode=$1 round=$2 result cpu_before cpu
    cpu_before="$(broker_cpu_seconds)"
    result="$(timeout 600 "$PYTHON" "$COMPAT_DIR/prometheus_workload.py" bench "$BOOTSTRAP" \
        "bench-$mode-$round" "$N" "$SIZE")" || fail "bench workload failed"
    cpu="$(awk -v a="$cpu_before" -v b="$(broker_cpu_seconds)" 'BEGIN { printf "%.2f", b - a }')"
    result="${result%\}}, \"broker_cpu_seconds\": $cpu}"
    echo "BENCH metrics-overhead round=$round scrape=$mode records=$N size=$SIZE $result"
    echo "$mode $result" >>"$WORK/results"
}
GET_PID=""
stop_get_loop() {
    [[ -n "$GET_PID" ]] || return 0
    kill "$GET_PID" 2>/dev/null || true
    wait "$GET_PID" 2>/dev/null || true
    GET_PID=""
}
on_exit stop_get_loop
for ((round = 1; round <= ROUNDS; round++)); do
    run_phase none "$round"
    "$PYTHON" -c '
import sys, time, urllib.request
while True:
    urllib.request.urlopen(sys.argv[1], timeout=5).read()
    time.sleep(1)' "http://$BROKER_METRICS/metrics" &
    GET_PID=$!
    run_phase get1s "$round"
    stop_get_loop
    start_prometheus 1s
    run_phase prometheus1s "$round"
    stop_prometheus
done

"$PYTHON" - "$WORK/results" <<'PY'
import json, statistics, sys
by_mode, cpu_by_mode = {}, {}
for line in open(sys.argv[1]):
    mode, result = line.split(" ", 1)
    result = json.loads(result)
    by_mode.setdefault(mode, []).append(result["records_per_second"])
    cpu_by_mode.setdefault(mode, []).append(result["broker_cpu_seconds"])
for name, values in (("records/s", by_mode), ("broker CPU s per phase", cpu_by_mode)):
    none = statistics.median(values["none"])
    line = f"BENCH metrics-overhead summary {name}: no scraping {none:.2f} {values['none']}"
    for mode in ("get1s", "prometheus1s"):
        scraped = statistics.median(values[mode])
        line += f"; {mode} {scraped:.2f} {values[mode]} ({100 * (scraped - none) / none:+.1f}%)"
    print(line)
PY

# The endpoint itself, with this run's topics and series in it.
"$PYTHON" - "http://$BROKER_METRICS/metrics" <<'PY'
import sys, time, urllib.request
times, size = [], 0
for _ in range(50):
    started = time.perf_counter()
    size = len(urllib.request.urlopen(sys.argv[1], timeout=5).read())
    times.append(time.perf_counter() - started)
times.sort()
print(f"BENCH metrics-endpoint: {size} bytes, GET /metrics median {1000 * times[len(times) // 2]:.2f} ms, "
      f"max {1000 * times[-1]:.2f} ms over {len(times)} requests")
PY
log "done"
