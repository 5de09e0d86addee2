#!/usr/bin/env bash
# What replication costs (informational, never a pass/fail check, not in run-all.sh): the Java
# producer bench (java/BenchDriver.java: idempotent, acks=all, linger.ms=5, batch 64 KiB,
# BENCH_RECORDS x BENCH_SIZE records, default 100,000 x 1 KiB, over BENCH_PARTITIONS=3
# partitions) against one broker (no --peers, replication factor 1) and against a 3-node
# loopback cluster (replication factor 3), same binary, same machine, alternating
# BENCH_ROUNDS (2) times, each round on a fresh broker / cluster. Prints a BENCH line per run,
# the mean MB/s of each, and CLUSTER_RATIO=<cluster MB/s / single MB/s>.
# Then latency: a fresh cluster at a fixed offered load of 50% of the cluster's mean records/s
# (BENCH_HALF_SECONDS=10 of measurement after 2 s of warm-up, paced against a schedule; latency
# from the scheduled send to the ack), printed as CLUSTER_HALF_P99_MS= (and p50, p99.9, max).
# All three nodes share this machine's cores, so the ratio is a lower bound for real hosts.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

N="${BENCH_RECORDS:-100000}"
SIZE="${BENCH_SIZE:-1024}"
PARTS="${BENCH_PARTITIONS:-3}"
ROUNDS="${BENCH_ROUNDS:-2}"

bench() { # label bootstrap topic
    java_run 600 BenchDriver bootstrap="$2" topic="$3" create=0 partitions="$PARTS" size="$SIZE" acks=all \
        linger_ms=5 batch_bytes=65536 seconds=600 max_bytes=$((N * SIZE)) warmup_s="${BENCH_WARMUP_S:-0}" \
        consume=0 label="$1" | tee -a "$WORK/bench.out"
}

java_build
for r in $(seq "$ROUNDS"); do
    log "round $r/$ROUNDS: single node"
    start_broker
    cluster_tool create "$BOOTSTRAP" "bench-single-$r" "$PARTS" 1
    bench single "$BOOTSTRAP" "bench-single-$r"
    stop_broker

    log "round $r/$ROUNDS: 3-node cluster, replication factor 3"
    cluster_start 3
    cluster_tool create "$BOOTSTRAP" "bench-cluster-$r" "$PARTS" 3
    bench cluster "$BOOTSTRAP" "bench-cluster-$r"
    cluster_stop
done

summary="$(awk '/^BENCH produce/ {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        s[f["label"]] += f["mb_s"]; r[f["label"]] += f["records_s"]; n[f["label"]]++
     }
     END {
        if (!n["single"] || !n["cluster"]) { print "no BENCH lines" > "/dev/stderr"; exit 1 }
        a = s["single"] / n["single"]; b = s["cluster"] / n["cluster"]
        printf "BENCH cluster-vs-single: %d x %d B, %d partitions, acks=all: single node %.1f MB/s, 3-node cluster (RF=3) %.1f MB/s (means of %d rounds)\n", '"$N"', '"$SIZE"', '"$PARTS"', a, b, n["single"]
        printf "CLUSTER_RATIO=%.2f\n", b / a
        printf "CLUSTER_RECORDS_S=%.0f\n", r["cluster"] / n["cluster"]
     }' "$WORK/bench.out")"
echo "$summary" | grep -v '^CLUSTER_RECORDS_S='
half_rate=$(awk -F= '/^CLUSTER_RECORDS_S=/ { printf "%.0f", $2 / 2 }' <<<"$summary")

log "3-node cluster at 50% of its max: $half_rate records/s"
cluster_start 3
cluster_tool create "$BOOTSTRAP" bench-cluster-half "$PARTS" 3
java_run 600 BenchDriver bootstrap="$BOOTSTRAP" topic=bench-cluster-half create=0 partitions="$PARTS" \
    size="$SIZE" acks=all linger_ms=5 batch_bytes=65536 seconds="${BENCH_HALF_SECONDS:-10}" \
    rate="$half_rate" warmup_s=2 consume=0 label=cluster-half | tee "$WORK/half.out"
cluster_stop
awk '/^BENCH produce/ {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        printf "CLUSTER_HALF_P99_MS=%s CLUSTER_HALF_P50_MS=%s CLUSTER_HALF_P999_MS=%s CLUSTER_HALF_MAX_MS=%s CLUSTER_HALF_RECORDS_S=%s\n", f["p99_ms"], f["p50_ms"], f["p999_ms"], f["max_ms"], f["records_s"]
     }' "$WORK/half.out"
