#!/usr/bin/env bash
# Apache Kafka's own performance and system-test clients (compat/kafka) against one broker,
# their output parsed and checked; the performance figures are printed as BENCH lines, never
# judged. Sections (KAFKA_PERF_SECTIONS="verifiable e2e-latency" runs only some):
#   producer-perf  kafka-producer-perf-test: PERF_RECORDS (50,000) x 100 B, acks=all, no
#                  throttle, into a 3-partition topic: its summary line counts every record,
#                  and kafka-get-offsets' end offsets of the topic add up to the same number
#   consumer-perf  kafka-consumer-perf-test --num-records PERF_RECORDS over that topic (a
#                  group): its CSV line says it consumed exactly that many records and MB
#   verifiable     kafka-verifiable-producer --max-messages VERIFIABLE_RECORDS (5,000) --acks -1
#                  with 16 repeating keys over 3 partitions: every send acknowledged, no
#                  producer_send_error, offsets dense per partition; kafka-verifiable-consumer
#                  --verbose --reset-policy earliest, once in a classic group and once in a
#                  KIP-848 one (--group-protocol consumer): every acknowledged record consumed
#                  with its key and value, per partition in order, each once; every
#                  offsets_committed a success, the last one at each partition's end offset
#   e2e-latency    kafka-e2e-latency (org.apache.kafka.tools.EndToEndLatency) E2E_RECORDS
#                  (2,000) x 100 B, acks=all: exits 0 (it checks every record it reads back),
#                  "Avg latency" and the percentiles are numbers
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"

SECTIONS=(producer-perf consumer-perf verifiable e2e-latency)
# Sections kbroker does not pass yet (name -> what it answers differently); see run_sections.
declare -A KBROKER_PENDING=()

PERF_RECORDS="${PERF_RECORDS:-50000}"
VERIFIABLE_RECORDS="${VERIFIABLE_RECORDS:-5000}"
E2E_RECORDS="${E2E_RECORDS:-2000}"

start_broker
BS=(--bootstrap-server "$BOOTSTRAP")

# end_offsets_sum TOPIC: the sum of kafka-get-offsets' latest offsets of TOPIC's partitions.
end_offsets_sum() {
    kt get-offsets "${BS[@]}" --topic "$1"
    awk -F: -v t="$1" '$1 == t { s += $3; n++ } END { if (n) print s }' "$OUT"
}

section_producer_perf() {
    local t=perf line
    kt topics "${BS[@]}" --create --topic "$t" --partitions 3 --replication-factor 1
    kt producer-perf-test --bootstrap-server "$BOOTSTRAP" --topic "$t" --num-records "$PERF_RECORDS" \
        --record-size 100 --throughput -1 --command-property acks=all
    # "50000 records sent, 31172.069825 records/sec (2.97 MB/sec), 376.93 ms avg latency,
    # 1051.00 ms max latency, 389 ms 50th, 425 ms 95th, 437 ms 99th, 443 ms 99.9th."
    line="$(grep -E '^[0-9]+ records sent, .* ms 99\.9th\.$' "$OUT")" || kt_fail "no summary line"
    [[ "$line" =~ ^([0-9]+)\ records\ sent,\ ([0-9.]+)\ records/sec\ \(([0-9.]+)\ MB/sec\),\ ([0-9.]+)\ ms\ avg\ latency,\ ([0-9.]+)\ ms\ max\ latency,\ ([0-9]+)\ ms\ 50th,\ ([0-9]+)\ ms\ 95th,\ ([0-9]+)\ ms\ 99th,\ ([0-9]+)\ ms\ 99\.9th\.$ ]] \
        || kt_fail "summary line not understood: $line"
    expect_eq "records sent" "${BASH_REMATCH[1]}" "$PERF_RECORDS"
    echo "BENCH kafka-producer-perf-test target=$COMPAT_TARGET records=$PERF_RECORDS size=100 acks=all partitions=3:" \
        "${BASH_REMATCH[2]} records/s, ${BASH_REMATCH[3]} MB/s, latency avg ${BASH_REMATCH[4]} ms," \
        "p50 ${BASH_REMATCH[6]} ms, p95 ${BASH_REMATCH[7]} ms, p99 ${BASH_REMATCH[8]} ms, p99.9 ${BASH_REMATCH[9]} ms, max ${BASH_REMATCH[5]} ms"
    expect_eq "sum of the end offsets of $t (kafka-get-offsets)" "$(end_offsets_sum "$t")" "$PERF_RECORDS"
    PERF_PRODUCED=1
}

section_consumer_perf() {
    local t=perf header row
    [[ -n "${PERF_PRODUCED:-}" ]] || section_producer_perf
    kt consumer-perf-test "${BS[@]}" --topic "$t" --num-records "$PERF_RECORDS" --group tools-perf-consumer \
        --timeout 30000
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
    header="$(grep -m1 '^start.time, ' "$OUT")" || kt_fail "no CSV header"
    expect_eq "CSV header" "$header" "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    row="$(grep -A1 -m1 '^start.time, ' "$OUT" | tail -n 1)"
    IFS=',' read -r -a f <<<"${row// /}"
    expect_eq "CSV columns" "${#f[@]}" 10
    expect_eq "data.consumed.in.nMsg" "${f[4]}" "$PERF_RECORDS"
    # 100-byte values, no keys: the MB figure is of the values alone.
    expect_eq "data.consumed.in.MB" "${f[2]}" "$(awk -v n="$PERF_RECORDS" 'BEGIN { printf "%.4f", n * 100 / 1048576 }')"
    echo "BENCH kafka-consumer-perf-test target=$COMPAT_TARGET records=${f[4]} size=100:" \
        "${f[3]} MB/s, ${f[5]} records/s overall; rebalance ${f[6]} ms, fetching ${f[7]} ms: ${f[8]} MB/s, ${f[9]} records/s"
}

section_verifiable() {
    local t=verifiable protocol
    kt topics "${BS[@]}" --create --topic "$t" --partitions 3 --replication-factor 1
    kt verifiable-producer "${BS[@]}" --topic "$t" --max-messages "$VERIFIABLE_RECORDS" --acks -1 \
        --repeating-keys 16
    "$PYTHON" "$COMPAT_DIR/ktools.py" verifiable-producer "$OUT" "$VERIFIABLE_RECORDS" "$WORK/acked.json" \
        >"$WORK/verifiable.txt" || kt_fail "kafka-verifiable-producer's events (above)"
    log "kafka-verifiable-producer: $(cat "$WORK/verifiable.txt")"
    for protocol in classic consumer; do
        kt verifiable-consumer "${BS[@]}" --topic "$t" --group-id "tools-verifiable-$protocol" \
            --group-protocol "$protocol" --max-messages "$VERIFIABLE_RECORDS" --reset-policy earliest --verbose
        "$PYTHON" "$COMPAT_DIR/ktools.py" verifiable-consumer "$OUT" "$WORK/acked.json" \
            >"$WORK/verifiable.txt" || kt_fail "kafka-verifiable-consumer --group-protocol $protocol's events (above)"
        log "kafka-verifiable-consumer --group-protocol $protocol: $(cat "$WORK/verifiable.txt")"
    done
}

section_e2e_latency() {
    local t=e2e-latency avg pct
    kt topics "${BS[@]}" --create --topic "$t" --partitions 1 --replication-factor 1
    kt e2e-latency "${BS[@]}" --topic "$t" --num-records "$E2E_RECORDS" --producer-acks all --record-size 100
    avg="$(sed -nE 's/^Avg latency: ([0-9]+(\.[0-9]+)?) ms$/\1/p' "$OUT")"
    [[ -n "$avg" ]] || kt_fail "no 'Avg latency: X ms' line"
    # "Percentiles: 50th = 1, 99th = 11, 99.9th = 38"
    pct="$(sed -nE 's/^Percentiles: 50th = ([0-9]+), 99th = ([0-9]+), 99\.9th = ([0-9]+)$/p50 \1 ms, p99 \2 ms, p99.9 \3 ms/p' "$OUT")"
    [[ -n "$pct" ]] || kt_fail "no 'Percentiles: 50th = A, 99th = B, 99.9th = C' line"
    echo "BENCH kafka-e2e-latency target=$COMPAT_TARGET records=$E2E_RECORDS size=100 acks=all: avg $avg ms, $pct"
}

run_sections "${KAFKA_PERF_SECTIONS:-}"
