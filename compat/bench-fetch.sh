#!/usr/bin/env bash
# Consume benchmark, A/B (informational, not a pass/fail check): for each broker binary in
# turn, a fresh broker, MB megabytes of 1 KiB records written to one partition by Kafka's
# kafka-producer-perf-test (64 KiB batches), then read back from the beginning three times by
# kcat (librdkafka). Prints wall time, MB/s, and the broker's own CPU time per MB read
# (utime+stime of the broker process, which other processes' load does not inflate).
#
#   compat/bench-fetch.sh MB ROUNDS BIN_A [BIN_B ...]
#   compat/bench-fetch.sh 200 2 old/broker new/broker    # the tail: fits the fetch cache
#   compat/bench-fetch.sh 1000 1 old/broker new/broker   # catch-up: mostly from RocksDB
set -euo pipefail
(($# >= 3)) || { sed -n 2,11p "$0"; exit 2; }
MB=$1 ROUNDS=$2
shift 2
COMPAT_DIR="$(cd "$(dirname "$0")" && pwd)"
PORT="${BENCH_PORT:-19192}"
TICKS="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        dir="$(mktemp -d "${TMPDIR:-/tmp}/kbroker-bench-fetch.XXXXXX")"
        "$bin" --data-dir "$dir/data" --listen "127.0.0.1:$PORT" \
            --metrics-listen "127.0.0.1:$((PORT + 1))" --log-level warn >"$dir/log" 2>&1 &
        pid=$!
        for _ in $(seq 100); do
            curl -sf "127.0.0.1:$((PORT + 1))/ready" >/dev/null && break
            sleep 0.2
        done
        "$COMPAT_DIR/kafka" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic t \
            --partitions 1 >/dev/null
        "$COMPAT_DIR/kafka" producer-perf-test --topic t --num-records $((MB * 1000)) \
            --record-size 1024 --throughput -1 --producer-props "bootstrap.servers=127.0.0.1:$PORT" \
            acks=1 linger.ms=5 batch.size=65536 >/dev/null
        for read in 1 2 3; do
            before="$(cpu_ticks "$pid")"
            start="$(date +%s.%N)"
            records="$(timeout 600 kcat -C -b "127.0.0.1:$PORT" -t t -p 0 -o beginning -e -q \
                -f '%o\n' | wc -l)"
            end="$(date +%s.%N)"
            after="$(cpu_ticks "$pid")"
            python3 -c "
wall = $end - $start; mb = $records * 1024 / 1e6; cpu = ($after - $before) / $TICKS
print(f'BENCH fetch bin=$(basename "$bin") round=$round read=$read records=$records '
      f'seconds={wall:.2f} mb_per_s={mb / wall:.0f} broker_cpu_ms_per_mb={cpu * 1000 / mb:.2f}')"
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$dir"
    done
done
