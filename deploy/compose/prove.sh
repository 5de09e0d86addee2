#!/usr/bin/env bash
# Runs deploy/compose/compose.yaml's three brokers and Prometheus with podman-compose (Debian's)
# and uses them from the host: kcat sees 3 brokers in Metadata, 1,000 records with acks=all
# are read back, Prometheus (with compose's prometheus.yml and deploy/alerts.yml) scrapes all
# three brokers and has loaded the alert rules, kbroker-1 is stopped (SIGTERM: exit 0) and 500
# more records go through the other two, kbroker-1 is started again and every record is read
# through it.
#
# The brokers run the image deploy/container/prove.sh builds. prom/prometheus cannot be pulled
# here, so PROMETHEUS_IMAGE is an image of Debian's prometheus package (2.42) on the same Debian
# base, with the official image's entry point. Not run: grafana (no Debian package, no
# registry); compat/check-deploy.sh validates compose.yaml, grafana's part included.
#
#   deploy/compose/prove.sh        # ~1 min once the image exists (container/prove.sh: ~1-2 min)
#
# Uses the fixed host ports of compose.yaml (127.0.0.1:19092-19094): they must be free.
# Env: BROKER_BIN, KBROKER_CACHE as for deploy/container/prove.sh.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
RECORDS=1000
PROJECT="kbroker-prove-$$"
BOOTSTRAP=localhost:19092,localhost:19093,localhost:19094
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbroker-compose-prove.XXXXXX")"
export KBROKER_IMAGE=localhost/kbroker:prove
export PROMETHEUS_IMAGE=localhost/kbroker-prometheus:prove

log() { echo "[compose-prove $(date +%H:%M:%S)] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# As in container/prove.sh: runc rather than crun (hybrid cgroups here), and resource limits
# no higher than this process has; podman-compose passes this on to podman.
export CONTAINERS_CONF="$WORK/containers.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
compose() { timeout 300 podman-compose -p "$PROJECT" -f "$HERE/compose.yaml" "$@" >>"$WORK/compose.log" 2>&1; }
container() { echo "${PROJECT}_$1_1"; }

cleanup() {
    local rc=$?
    set +e
    compose down -v
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
    if ((rc == 0)); then rm -rf "$WORK"; else log "exit $rc; work dir kept: $WORK"; fi
    exit "$rc"
}

command -v podman-compose >/dev/null || {
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq podman-compose >/dev/null
}
for port in 19092 19093 19094 9090; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "127.0.0.1:$port is in use"
done
if ! podman image exists "$KBROKER_IMAGE"; then
    log "no $KBROKER_IMAGE yet: deploy/container/prove.sh builds it"
    KEEP_IMAGES=1 "$HERE/../container/prove.sh"
fi

mkdir -p "$WORK/prometheus-image"
cat >"$WORK/prometheus-image/Containerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && install -d -o nobody -g nogroup /prometheus
USER nobody
ENTRYPOINT ["/usr/bin/prometheus"]
EOF
log "podman build: $PROMETHEUS_IMAGE (Debian's prometheus)"
timeout 900 podman build --network host --build-arg BASE_IMAGE=localhost/kbroker-base:bookworm \
    -t "$PROMETHEUS_IMAGE" "$WORK/prometheus-image" >"$WORK/prometheus-build.log" 2>&1 \
    || { tail -20 "$WORK/prometheus-build.log" >&2; fail "building $PROMETHEUS_IMAGE"; }

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
compose up -d --no-build kbroker-1 kbroker-2 kbroker-3 prometheus || fail "podman-compose up (log $WORK/compose.log)"

# Until Metadata through NODE's port lists all three brokers.
wait_cluster() {
    local deadline=$((SECONDS + 90)) brokers=""
    while ((SECONDS < deadline)); do
        brokers="$(timeout 10 kcat -b "localhost:$1" -L -m 5 2>/dev/null | sed -nE 's/^ *([0-9]+) brokers:.*/\1/p' || true)"
        [[ "$brokers" == 3 ]] && return 0
        sleep 1
    done
    fail "Metadata through localhost:$1 lists ${brokers:-no} brokers, not 3"
}
wait_cluster 19092
for service in kbroker-1 kbroker-2 kbroker-3; do
    podman healthcheck run "$(container "$service")" || fail "$service: HEALTHCHECK failed"
done
log "3 brokers up and healthy (project $PROJECT)"

# produce FIRST LAST BOOTSTRAP: records compose-FIRST..LAST with acks=all.
produce() {
    seq "$1" "$2" | sed 's/^/compose-/' | tee -a "$WORK/sent" \
        | timeout 60 kcat -b "$3" -P -t compose -X acks=all || fail "kcat -P via $3"
}
read_all() {
    timeout 60 kcat -b "$1" -C -t compose -o beginning -e -q | sort >"$WORK/read"
    sort "$WORK/sent" | cmp -s - "$WORK/read" \
        || fail "read $(wc -l <"$WORK/read") records via $1, not the $(wc -l <"$WORK/sent") sent"
}
produce 1 "$RECORDS" "$BOOTSTRAP"
read_all "$BOOTSTRAP"
log "$RECORDS records with acks=all read back"

# Prometheus: every broker scraped (up == 1, 15 s scrape interval) and alerts.yml loaded.
deadline=$((SECONDS + 90))
until python3 - <<'EOF' 2>/dev/null
import json, urllib.request
up = json.load(urllib.request.urlopen("http://127.0.0.1:9090/api/v1/query?query=up", timeout=5))
targets = {r["metric"]["instance"]: r["value"][1] for r in up["data"]["result"]}
assert targets == {f"kbroker-{i}:9644": "1" for i in (1, 2, 3)}, targets
rules = json.load(urllib.request.urlopen("http://127.0.0.1:9090/api/v1/rules", timeout=5))
assert rules["data"]["groups"], "no rule groups"
EOF
do
    ((SECONDS < deadline)) || fail "Prometheus does not scrape kbroker-1..3 with up=1 and the alert rules within 90 s"
    sleep 2
done
log "Prometheus scrapes kbroker-1..3 (up=1) with deploy/alerts.yml loaded"

timeout 60 podman stop -t 30 "$(container kbroker-1)" >/dev/null 2>&1
code="$(podman inspect "$(container kbroker-1)" --format '{{.State.ExitCode}}')"
((code == 0)) || fail "kbroker-1 exited $code after SIGTERM"
produce $((RECORDS + 1)) $((RECORDS + 500)) localhost:19093,localhost:19094
read_all localhost:19093
log "kbroker-1 stopped (exit 0): 500 more records through the other two"

podman start "$(container kbroker-1)" >/dev/null 2>&1
wait_cluster 19092
read_all localhost:19092
log "kbroker-1 back: all $((RECORDS + 500)) records read through it"
log "PASS"
