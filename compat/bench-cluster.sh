#!/usr/bin/env bash
# What replication costs, and how it compares with Apache Kafka's (informational, never a
# pass/fail check, not in run-all.sh; scripts/bench runs it once per durability class). The Java
# producer bench (java/BenchDriver.java: idempotent, acks=all, linger.ms=5, batch 64 KiB,
# BENCH_SIZE=1024 B records over BENCH_PARTITIONS=3 partitions, as fast as it goes for 2 s of
# warm-up and BENCH_SECONDS=10 measured) against, for each of BENCH_CLUSTER_TARGETS:
#   kbroker     BROKER_BIN: one broker without --peers (replication factor 1), then a 3-node
#               loopback cluster (replication factor 3)
#   kbroker-b   the same with BROKER_BIN_B (an A/B comparison)
#   kafka       a 3-node Apache Kafka cluster on loopback (compat/kafka-ref.sh: KRaft, every node
#               broker and controller, default settings)
# alternating BENCH_ROUNDS (2) times, each round on fresh brokers, each of them first warmed up
# (BENCH_WARMUP_SECONDS=5 of unreported produce and read-back on another topic). BENCH_CLASS picks the
# durability class: fsync (kbroker --flush-policy fsync, Kafka log.flush.interval.messages=1) or
# interval (kbroker --flush-policy interval, Kafka's defaults).
# Then latency: in the last round, each target's cluster, right after its max run, on a new
# topic, at a fixed offered load of 50% of the reference's mean records/s (Apache Kafka's if it
# runs, else the first target's; the same 2 + BENCH_SECONDS, paced against a schedule; latency
# from the scheduled send to the ack).
# Prints a `BENCH cluster-produce ...` line per run, then summary lines: CLUSTER_RATIO= (kbroker
# cluster / single MB/s), CLUSTER_VS_KAFKA= (kbroker cluster / Kafka cluster MB/s) and
# CLUSTER_HALF_P99_MS= (and p50, p99.9, max) of kbroker's paced run.
# All three nodes share this machine's cores, so the ratios are lower bounds for real hosts.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

SECS="${BENCH_SECONDS:-10}"
WARMUP="${BENCH_WARMUP_SECONDS:-5}"
SIZE="${BENCH_SIZE:-1024}"
PARTS="${BENCH_PARTITIONS:-3}"
ROUNDS="${BENCH_ROUNDS:-2}"
CLASS="${BENCH_CLASS:-fsync}"
read -r -a TARGETS <<<"${BENCH_CLUSTER_TARGETS:-kbroker}"
BROKER_BIN_A="$BROKER_BIN"
[[ $CLASS == fsync || $CLASS == interval ]] || fail "BENCH_CLASS must be fsync or interval, not '$CLASS'"
[[ " ${TARGETS[*]} " != *" kbroker-b "* || -x "${BROKER_BIN_B:-}" ]] || fail "kbroker-b needs BROKER_BIN_B"
KAFKA_REF_EXTRA_CONFIG=""
[[ $CLASS == interval ]] || KAFKA_REF_EXTRA_CONFIG=log.flush.interval.messages=1
BROKER_EXTRA_ARGS="${BROKER_EXTRA_ARGS:-} --flush-policy $CLASS"

topic() { echo "bench-$1-$2-$3"; }

# bench LABEL TARGET ROUND [BenchDriver args...]: one produce run, its BENCH line tagged.
bench() {
    local label=$1 target=$2 round=$3
    shift 3
    java_run $((SECS + 330)) BenchDriver bootstrap="$BOOTSTRAP" topic="$(topic "$label" "$target" "$round")" create=0 \
        partitions="$PARTS" size="$SIZE" acks=all linger_ms=5 batch_bytes=65536 consume=0 label="$label" "$@" \
        | sed -n "s/^BENCH produce \(.*\)/BENCH cluster-produce \1 target=$target class=$CLASS round=$round/p" \
        | tee -a "$WORK/bench.out" || fail "$label run on $target failed"
}

# up TARGET NODES TOPIC: a fresh broker (NODES 1) or cluster of TARGET with TOPIC created;
# down TARGET NODES stops it.
up() {
    case "$1" in
    kafka)
        rm -rf "$WORK"/kafka-[0-9]*
        kafka_ref_cluster_start "$2"
        ;;
    *)
        BROKER_BIN="$([[ $1 == kbroker ]] && echo "$BROKER_BIN_A" || echo "$BROKER_BIN_B")"
        if (($2 == 1)); then start_broker; else cluster_start "$2"; fi
        ;;
    esac
    cluster_tool create "$BOOTSTRAP" "$3" "$PARTS" "$(($2 < 3 ? $2 : 3))" >/dev/null
    # Unreported warm-up on its own topic, so that no target is measured cold (the JVMs' JIT
    # for Apache Kafka, connections and caches for both).
    if ((WARMUP > 0)); then
        cluster_tool create "$BOOTSTRAP" "$3-warmup" "$PARTS" "$(($2 < 3 ? $2 : 3))" >/dev/null
        java_run $((WARMUP + 330)) BenchDriver bootstrap="$BOOTSTRAP" topic="$3-warmup" create=0 partitions="$PARTS" \
            size="$SIZE" acks=all seconds="$WARMUP" warmup_s=0 consume=1 label=warmup >/dev/null \
            || fail "warm-up of $1 failed"
    fi
}
down() {
    case "$1" in
    kafka) kafka_ref_cluster_stop ;;
    *) if (($2 == 1)); then stop_broker; else cluster_stop; fi ;;
    esac
}

# mean FIELD LABEL TARGET: the mean of FIELD over this run's lines of LABEL and TARGET.
mean() {
    awk -v want="$1" -v label="$2" -v target="$3" '
        { delete f; for (i = 3; i <= NF; i++) { k = $i; sub(/=.*/, "", k); f[k] = substr($i, length(k) + 2) } }
        f["label"] == label && f["target"] == target { s += f[want]; n++ }
        END { if (n) printf "%.2f", s / n }' "$WORK/bench.out"
}

java_build
: >"$WORK/bench.out"
# The reference runs first in every round, so its mean is known when the others' paced runs start.
ref="$([[ " ${TARGETS[*]} " == *" kafka "* ]] && echo kafka || echo "${TARGETS[0]}")"
ordered=("$ref")
for t in "${TARGETS[@]}"; do [[ $t == "$ref" ]] || ordered+=("$t"); done
TARGETS=("${ordered[@]}")
half_rate=""
for r in $(seq "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
        if [[ $t != kafka ]]; then
            log "round $r/$ROUNDS ($CLASS): $t, single node"
            up "$t" 1 "$(topic single "$t" "$r")"
            bench single "$t" "$r" seconds="$SECS" warmup_s=2
            down "$t" 1
        fi
        log "round $r/$ROUNDS ($CLASS): $t, 3-node cluster, replication factor 3"
        up "$t" 3 "$(topic cluster "$t" "$r")"
        bench cluster "$t" "$r" seconds="$SECS" warmup_s=2
        if ((r == ROUNDS)); then
            # Latency on the same cluster, new topic: 50% of the reference's mean max.
            if [[ -z $half_rate ]]; then
                ref_records_s="$(mean records_s cluster "$ref")"
                [[ -n $ref_records_s ]] || fail "no cluster run of $ref"
                half_rate="$(awk -v r="$ref_records_s" 'BEGIN { printf "%.0f", r / 2 }')"
            fi
            log "$t 3-node cluster ($CLASS) at 50% of $ref's max: $half_rate records/s"
            cluster_tool create "$BOOTSTRAP" "$(topic cluster-half "$t" "$r")" "$PARTS" 3 >/dev/null
            bench cluster-half "$t" "$r" seconds="$SECS" rate="$half_rate" warmup_s=2
        fi
        down "$t" 3
    done
done

single="$(mean mb_s single kbroker)"
cluster="$(mean mb_s cluster kbroker)"
kafka="$(mean mb_s cluster kafka)"
if [[ -n $single && -n $cluster ]]; then
    echo "BENCH cluster-vs-single: $SIZE B records, $PARTS partitions, acks=all, $CLASS: single node $single MB/s," \
        "3-node cluster (RF=3) $cluster MB/s${kafka:+, Apache Kafka 3-node cluster $kafka MB/s} (means of $ROUNDS rounds)"
    awk -v a="$single" -v b="$cluster" 'BEGIN { printf "CLUSTER_RATIO=%.2f\n", b / a }'
fi
[[ -z $kafka || -z $cluster ]] || awk -v a="$kafka" -v b="$cluster" 'BEGIN { printf "CLUSTER_VS_KAFKA=%.2f\n", b / a }'
awk '{ delete f; for (i = 3; i <= NF; i++) { k = $i; sub(/=.*/, "", k); f[k] = substr($i, length(k) + 2) } }
     f["label"] == "cluster-half" && f["target"] == "kbroker" {
        printf "CLUSTER_HALF_P99_MS=%s CLUSTER_HALF_P50_MS=%s CLUSTER_HALF_P999_MS=%s CLUSTER_HALF_MAX_MS=%s CLUSTER_HALF_RECORDS_S=%s\n", f["p99_ms"], f["p50_ms"], f["p999_ms"], f["max_ms"], f["records_s"]
     }' "$WORK/bench.out"
