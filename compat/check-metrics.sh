#!/usr/bin/env bash
# Prometheus endpoint (--metrics-listen): after some client traffic, GET
# /metrics must answer 200 with text that Prometheus can parse (promtool).
# promtool lint findings (e.g. missing HELP) fail the check, and the families
# deploy/ (alerts, dashboard) relies on must be there.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "kbroker metrics listener (/metrics)"

command -v promtool >/dev/null || fail "promtool not installed (scripts/install-test-deps installs prometheus)"
TOPIC="metrics-check-$$"

start_broker
timeout 60 "$PYTHON" "$COMPAT_DIR/kill9.py" create "$BOOTSTRAP" "$TOPIC" 1
seq 1 1000 | timeout 60 kcat -b "$BOOTSTRAP" -P -t "$TOPIC" 2>"$WORK/produce.err" \
    || { cat "$WORK/produce.err"; fail "kcat -P failed"; }
timeout 60 kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -o beginning -e -q >/dev/null 2>&1 || fail "kcat -C failed"

# python instead of curl: curl isn't guaranteed on a bare machine.
timeout 30 "$PYTHON" - "http://$BROKER_METRICS/metrics" "$WORK/metrics.txt" <<'PY' || fail "GET /metrics failed"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    body = r.read()
    print(f"GET /metrics: HTTP {r.status}, Content-Type {r.headers.get('Content-Type')}, {len(body)} bytes")
    if r.status != 200:
        sys.exit(1)
open(sys.argv[2], "wb").write(body)
PY
[[ -s "$WORK/metrics.txt" ]] || fail "/metrics is empty"
echo "samples: $(grep -vc '^#\|^$' "$WORK/metrics.txt"); families: $(grep -c '^# TYPE' "$WORK/metrics.txt")"

rc=0
promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.out" 2>&1 || rc=$?
case $rc in
0) log "promtool: clean" ;;
3) sed 's/^/    /' "$WORK/promtool.out" | head -20
   fail "promtool lint: $(wc -l <"$WORK/promtool.out") findings" ;;
*) cat "$WORK/promtool.out"; fail "promtool could not parse /metrics (exit $rc)" ;;
esac
grep -q "topic=\"$TOPIC\"" "$WORK/metrics.txt" || fail "no metric carries topic=\"$TOPIC\""
# Every family has help text, and the families the deploy/ files rely on exist.
for family in broker_requests_total broker_request_duration_seconds broker_topic_bytes_in_total \
    broker_topic_records_in_total broker_topic_bytes_out_total broker_connections_active \
    broker_partitions_offline broker_partitions_under_replicated broker_raft_term \
    broker_storage_disk_free_bytes broker_storage_wal_sync_seconds broker_storage_blob_files_size_bytes \
    process_cpu_seconds_total; do
    grep -q "^# HELP $family " "$WORK/metrics.txt" || fail "no $family in /metrics"
done
log "PASS"
