#!/usr/bin/env bash
# Prometheus end to end: the deploy/ files pass promtool, a real Prometheus
# server scrapes the broker every second, a confluent-kafka workload produces N
# records of known size (one record per batch, so the batch bytes are known)
# and reads them back, then a consumer group reads and commits a third of them.
# Prometheus's query API must then report exactly N records and N * batch
# bytes in for that topic, and the group's lag. Also: /health and /ready, the
# alert rules load and evaluate without error in the real server, and every
# query of the Grafana dashboard is accepted.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "kbroker metrics listener, deploy/ rules and dashboard"

N="${PROM_RECORDS:-2000}"
SIZE="${PROM_RECORD_SIZE:-100}"
TOPIC="prom-check-$$"
DEPLOY="$REPO_ROOT/deploy"

command -v promtool >/dev/null || "$REPO_ROOT/scripts/install-test-deps" >&2
promtool check config "$DEPLOY/prometheus.yml" >/dev/null || fail "promtool check config deploy/prometheus.yml"
promtool check rules "$DEPLOY/alerts.yml" >/dev/null || fail "promtool check rules deploy/alerts.yml"
promtool test rules "$DEPLOY/alerts_test.yml" >/dev/null || fail "promtool test rules deploy/alerts_test.yml"
"$PYTHON" -m json.tool "$DEPLOY/grafana-dashboard.json" >/dev/null || fail "dashboard JSON does not parse"
log "deploy/: config, rules, rule tests and dashboard JSON are valid"

http_status() {
    "$PYTHON" - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}

start_broker
[[ "$(http_status "http://$BROKER_METRICS/health")" == 200 ]] || fail "/health is not 200"
deadline=$((SECONDS + 30))
until [[ "$(http_status "http://$BROKER_METRICS/ready")" == 200 ]]; do
    ((SECONDS < deadline)) || fail "/ready not 200 within 30s"
    sleep 0.2
done
log "/health and /ready answer 200"

start_prometheus 1s
deadline=$((SECONDS + 30))
until [[ "$(prom_query 'up{job="kbroker"}')" == 1 ]]; do
    ((SECONDS < deadline)) || fail "prometheus does not see the broker up"
    sleep 0.5
done

result="$(timeout 180 "$PYTHON" "$COMPAT_DIR/prometheus_workload.py" exact "$BOOTSTRAP" "$TOPIC" "$N" "$SIZE")" \
    || fail "workload failed"
expected_records="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["records"])' "$result")"
expected_bytes="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$result")"
group="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["group"])' "$result")"
expected_lag="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["lag"])' "$result")"
log "sent $expected_records records, $expected_bytes batch bytes to $TOPIC; group $group left $expected_lag unread"

# Prometheus has the final values once it scraped after the workload ended.
records_in="" bytes_in=""
deadline=$((SECONDS + 30))
while :; do
    records_in="$(prom_query "sum(broker_topic_records_in_total{topic=\"$TOPIC\"})")"
    bytes_in="$(prom_query "sum(broker_topic_bytes_in_total{topic=\"$TOPIC\"})")"
    [[ "$records_in" == "$expected_records" && "$bytes_in" == "$expected_bytes" ]] && break
    ((SECONDS < deadline)) || fail "Prometheus says records in $records_in (sent $expected_records), bytes in $bytes_in (sent $expected_bytes)"
    sleep 1
done
log "Prometheus: records in $records_in, bytes in $bytes_in: equal to what was sent"

lag="" groups=""
deadline=$((SECONDS + 30))
while :; do
    lag="$(prom_query "sum(broker_consumer_group_lag_records{group=\"$group\", topic=\"$TOPIC\"})")"
    groups="$(prom_query 'sum(broker_consumer_groups)')"
    [[ "$lag" == "$expected_lag" && "${groups:-0}" -ge 1 ]] && break
    ((SECONDS < deadline)) || fail "Prometheus says lag of $group is $lag (expected $expected_lag), $groups groups"
    sleep 1
done
log "Prometheus: lag of $group is $lag records, as committed; $groups group(s) known"

records_out="$(prom_query "sum(broker_topic_records_out_total{topic=\"$TOPIC\"})")"
bytes_out="$(prom_query "sum(broker_topic_bytes_out_total{topic=\"$TOPIC\"})")"
((${records_out:-0} >= expected_records)) || fail "records out $records_out < $expected_records consumed"
((${bytes_out:-0} >= expected_bytes)) || fail "bytes out $bytes_out < $expected_bytes consumed"
produce_requests="$(prom_query 'sum(broker_requests_total{api="Produce"})')"
((${produce_requests:-0} >= expected_records)) || fail "Produce requests $produce_requests < one per batch"
p99="$(prom_query 'histogram_quantile(0.99, sum by (le) (rate(broker_request_duration_seconds_bucket{api="Produce"}[1m])))')"
log "records out $records_out, bytes out $bytes_out, Produce requests $produce_requests, Produce p99 ${p99}s"

# The rules from deploy/alerts.yml evaluated in this server without errors.
"$PYTHON" - "$PROM_URL" <<'PY' || fail "alert rules did not evaluate cleanly"
import json, sys, time, urllib.request
deadline = time.monotonic() + 15
while True:
    groups = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/rules", timeout=5))["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    health = {r["name"]: r["health"] for r in rules}
    if rules and all(h == "ok" for h in health.values()):
        print(f"{len(rules)} alert rules evaluate ok; firing: {[r['name'] for r in rules if r['state'] == 'firing']}")
        break
    if time.monotonic() > deadline or any(h == "err" for h in health.values()):
        sys.exit(f"rule health: {health}")
    time.sleep(0.5)
PY
"$PYTHON" "$COMPAT_DIR/prometheus_workload.py" queries "$PROM_URL" "$DEPLOY/grafana-dashboard.json" \
    || fail "Prometheus rejected dashboard queries"
log "PASS"
