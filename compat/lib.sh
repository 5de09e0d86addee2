# shellcheck shell=bash
# Helpers sourced by compat/check-*.sh.
#
# Sourcing this file:
#   - sets `set -euo pipefail`
#   - creates a per-check work dir ($WORK) for logs, data and scratch files
#   - installs an EXIT trap that always stops the broker this script started,
#     and on failure prints the broker log tail and keeps $WORK for inspection.
#
# Broker lifecycle: start_broker, restart_broker, stop_broker, kill9_broker.
# After start_broker: BROKER_PID, BROKER_PORT, BOOTSTRAP, BROKER_DATA_DIR,
# BROKER_METRICS (host:port), BROKER_LOG are exported.
#
# COMPAT_TARGET=kafka runs the same lifecycle on the reference, a real Apache
# Kafka node (compat/kafka-ref.sh): BROKER_PID is its JVM, BROKER_METRICS is
# unset (no kbroker metrics), and checks that need kbroker itself call
# require_kbroker, which ends them as skipped (exit 77).
#
# Env knobs:
#   COMPAT_TARGET         kbroker (default: BROKER_BIN) or kafka (Apache Kafka)
#   BROKER_BIN            broker binary (default $CARGO_TARGET_DIR/release/broker)
#   KBROKER_CACHE         cache root (jars, compiled java classes)
#   BROKER_START_TIMEOUT  seconds to wait for the port to accept (default 30;
#                         for Apache Kafka until it logs "Kafka Server started", 90)
#   BROKER_EXTRA_ARGS     extra args appended to the broker command line
#   KEEP_WORK=1           keep $WORK even when the check passes

set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$COMPAT_DIR/.." && pwd)"
KBROKER_CACHE="${KBROKER_CACHE:-$HOME/.cache/kbroker}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KBROKER_CACHE/target}"
# A developer machine may keep main's build in its own target dir (target-main) while another
# checkout builds in the shared one; prefer it when present. CI sets BROKER_BIN explicitly.
if [[ -z "${BROKER_BIN:-}" && -x "$KBROKER_CACHE/target-main/release/broker" ]]; then
    BROKER_BIN="$KBROKER_CACHE/target-main/release/broker"
fi
BROKER_BIN="${BROKER_BIN:-$CARGO_TARGET_DIR/release/broker}"
COMPAT_TARGET="${COMPAT_TARGET:-kbroker}"
case "$COMPAT_TARGET" in
kbroker) BROKER_START_TIMEOUT="${BROKER_START_TIMEOUT:-30}" ;;
kafka) BROKER_START_TIMEOUT="${BROKER_START_TIMEOUT:-90}" ;;
*) echo "COMPAT_TARGET must be kbroker or kafka, not '$COMPAT_TARGET'" >&2; exit 2 ;;
esac
# KAFKA_HOME, KAFKA_VERSION, JAR_DIR: the pinned Apache Kafka release and its client jars.
# shellcheck source=compat/kafka-env.sh
source "$COMPAT_DIR/kafka-env.sh"
# shellcheck source=compat/kafka-ref.sh
source "$COMPAT_DIR/kafka-ref.sh"
PYTHON="${PYTHON:-python3}"
CHECK_NAME="$(basename "$0" .sh)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbroker-$CHECK_NAME.XXXXXX")"
export WORK COMPAT_DIR REPO_ROOT KBROKER_CACHE BROKER_BIN PYTHON COMPAT_TARGET

BROKER_PID=""
BROKER_EXIT_STATUS=0
BROKER_LOG="$WORK/broker.log"

log()  { echo "[$CHECK_NAME $(date +%H:%M:%S)] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
# Non-fatal finding: printed, and collected by run-all.sh for its summary.
warn() {
    log "WARN: $*"
    [[ -z "${COMPAT_WARN_FILE:-}" ]] || echo "$*" >>"$COMPAT_WARN_FILE"
}

# A free loopback port: bind to port 0 and let the kernel pick. There is a
# tiny race between closing and the broker binding, acceptable for tests.
free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# True once something accepts TCP connections on ${2:-127.0.0.1}:$1.
port_open() {
    (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

broker_alive() {
    [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null
}

# Launch the broker on $BROKER_PORT / $BROKER_DATA_DIR and wait (bounded)
# until the Kafka port accepts connections.
_launch_broker() {
    [[ "$COMPAT_TARGET" == kafka ]] && { _launch_kafka; return; }
    [[ -x "$BROKER_BIN" ]] || fail "broker binary not found: $BROKER_BIN (build it with cargo build --release)"
    echo "==== start $(date +%T) port=$BROKER_PORT data=$BROKER_DATA_DIR" >>"$BROKER_LOG"
    # shellcheck disable=SC2086  # BROKER_EXTRA_ARGS is intentionally word-split
    NO_COLOR=1 "$BROKER_BIN" \
        --node-id 1 \
        --listen "127.0.0.1:$BROKER_PORT" \
        --advertised-listener "127.0.0.1:$BROKER_PORT" \
        --data-dir "$BROKER_DATA_DIR" \
        --metrics-listen "127.0.0.1:$BROKER_MPORT" \
        ${BROKER_EXTRA_ARGS:-} \
        >>"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    export BROKER_PID
    wait_broker_port
    log "broker pid=$BROKER_PID listening on $BOOTSTRAP (data $BROKER_DATA_DIR)"
}

# Until the broker BROKER_PID accepts on $BROKER_PORT, within BROKER_START_TIMEOUT.
wait_broker_port() {
    local deadline=$((SECONDS + BROKER_START_TIMEOUT))
    until port_open "$BROKER_PORT"; do
        broker_alive || fail "broker exited during startup (see log)"
        ((SECONDS < deadline)) || fail "broker did not accept on port $BROKER_PORT within ${BROKER_START_TIMEOUT}s"
        sleep 0.1
    done
}

# The same for the reference Apache Kafka node configured by start_broker.
_launch_kafka() {
    echo "==== start $(date +%T) Apache Kafka $KAFKA_VERSION port=$BROKER_PORT data=$BROKER_DATA_DIR" >>"$BROKER_LOG"
    kafka_ref_launch "$WORK/kafka-server.properties" "$BROKER_LOG"
    BROKER_PID=$KAFKA_REF_PID
    export BROKER_PID
    kafka_ref_wait_ready "$BROKER_PID" "$BROKER_LOG" "$KAFKA_REF_LOG_FROM" "$BROKER_PORT" "$BROKER_START_TIMEOUT" \
        || fail "Apache Kafka did not start (see log)"
    log "Apache Kafka $KAFKA_VERSION pid=$BROKER_PID listening on $BOOTSTRAP (data $BROKER_DATA_DIR)"
}

# Fresh data dir, fresh ports.
start_broker() {
    BROKER_DATA_DIR="$WORK/data"
    rm -rf "$BROKER_DATA_DIR"
    mkdir -p "$BROKER_DATA_DIR"
    BROKER_PORT="$(free_port)"
    BROKER_MPORT="$(free_port)"
    BOOTSTRAP="127.0.0.1:$BROKER_PORT"
    BROKER_METRICS="127.0.0.1:$BROKER_MPORT"
    export BROKER_DATA_DIR BROKER_PORT BROKER_MPORT BOOTSTRAP BROKER_METRICS
    if [[ "$COMPAT_TARGET" == kafka ]]; then
        # Node 1, broker and controller; the controller listener takes the metrics port.
        unset BROKER_METRICS
        kafka_ref_config "$WORK/kafka-server.properties" 1 "$BROKER_PORT" "$BROKER_MPORT" \
            "$BROKER_DATA_DIR" "1@127.0.0.1:$BROKER_MPORT"
        kafka_ref_format "$WORK/kafka-server.properties" "$(kafka_ref_cluster_id)" >>"$BROKER_LOG" 2>&1 \
            || fail "kafka-storage format failed (see $BROKER_LOG)"
    fi
    _launch_broker
}

# Same data dir and same ports (clients keep their bootstrap address).
# Stops the current process first if it is still running.
restart_broker() {
    [[ -n "${BROKER_DATA_DIR:-}" ]] || fail "restart_broker before start_broker"
    broker_alive && stop_broker
    _launch_broker
}

# Reap a broker that is dying / dead (e.g. SIGKILLed by a python helper).
# `wait` only works for our own child, which it is.
wait_broker_exit() {
    [[ -n "$BROKER_PID" ]] || return 0
    local deadline=$((SECONDS + ${1:-15}))
    while broker_alive; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    local rc=0
    wait "$BROKER_PID" 2>/dev/null || rc=$?
    BROKER_EXIT_STATUS=$rc
    echo "==== exited $(date +%T) status=$rc" >>"$BROKER_LOG"
    BROKER_PID=""
}

# Graceful stop: SIGTERM, wait up to 15s, then SIGKILL so tests never hang.
stop_broker() {
    broker_alive || { BROKER_PID=""; return 0; }
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    if ! wait_broker_exit 15; then
        warn "broker did not exit 15s after SIGTERM; sending SIGKILL"
        kill9_broker
    elif ((BROKER_EXIT_STATUS != 0)) && ! [[ "$COMPAT_TARGET" == kafka && "$BROKER_EXIT_STATUS" == 143 ]]; then
        # A crash during graceful shutdown is a broker bug, but not what the
        # client checks are about: make it loud without failing the check.
        warn "broker exited with status $BROKER_EXIT_STATUS after SIGTERM (log: $BROKER_LOG)"
        tail -n 15 "$BROKER_LOG" >&2
        KEEP_WORK=1 # keep the evidence
    fi
}

# Crash the broker: no chance to flush anything that isn't already durable.
kill9_broker() {
    broker_alive || { BROKER_PID=""; return 0; }
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait_broker_exit 15 || fail "broker pid $BROKER_PID survived SIGKILL?"
}

# require_kbroker WHY: a check (or part) that needs kbroker itself, e.g. its metrics
# listener: with COMPAT_TARGET=kafka the check ends here, reported as skipped (exit 77).
require_kbroker() {
    [[ "$COMPAT_TARGET" == kafka ]] || return 0
    log "SKIP with COMPAT_TARGET=kafka: $*"
    exit 77
}

# on_exit 'COMMAND' — run COMMAND (e.g. stop client processes this check
# started) when the check exits, before the broker is stopped.
EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$1"); }

_compat_exit() {
    local rc=$?
    set +e
    local hook
    for hook in "${EXIT_HOOKS[@]}"; do eval "$hook"; done
    broker_alive && stop_broker
    if ((rc != 0 && rc != 77)); then
        if [[ -s "$BROKER_LOG" ]]; then
            echo "----- broker log tail ($BROKER_LOG) -----" >&2
            tail -n "${LOG_TAIL_LINES:-60}" "$BROKER_LOG" >&2
            echo "----- end of broker log -----" >&2
        fi
        log "exit code $rc; work dir kept: $WORK"
    elif [[ "${KEEP_WORK:-0}" == 1 ]]; then
        log "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap _compat_exit EXIT
# Turn Ctrl-C / SIGTERM (e.g. from `timeout`) into a normal failing exit so
# the EXIT trap still stops the broker.
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- api versions
# The broker's ApiVersions answer as "KEY NAME MIN MAX" lines (via kcat's
# debug log; librdkafka names keys it doesn't know "Unknown-N?"), cached in
# $WORK/apiversions.txt.
broker_api_versions() {
    if [[ ! -s "$WORK/apiversions.txt" ]]; then
        timeout 30 kcat -b "$BOOTSTRAP" -X debug=feature -L -m 10 2>&1 \
            | sed -nE 's/.*ApiKey ([^ ]+) \(([0-9]+)\) Versions ([0-9]+)\.\.([0-9]+).*/\2 \1 \3 \4/p' \
            | sort -n -u >"$WORK/apiversions.txt" || true
    fi
    cat "$WORK/apiversions.txt"
}

# require_apis KEY:Name ... — fail (clearly) unless the broker advertises
# every listed API key, e.g. require_apis 10:FindCoordinator 11:JoinGroup
require_apis() {
    local spec missing=()
    broker_api_versions >/dev/null
    for spec in "$@"; do
        grep -q "^${spec%%:*} " "$WORK/apiversions.txt" || missing+=("$spec")
    done
    if ((${#missing[@]})); then
        log "broker ApiVersions: $(awk '{printf "%s(%s) v%s-%s  ", $2, $1, $3, $4}' "$WORK/apiversions.txt")"
        fail "broker does not advertise ${missing[*]}"
    fi
}

# API keys a classic consumer group needs (used by the check-group-* checks).
# shellcheck disable=SC2034
CLASSIC_GROUP_APIS=(8:OffsetCommit 9:OffsetFetch 10:FindCoordinator 11:JoinGroup 12:Heartbeat
                    13:LeaveGroup 14:SyncGroup)

# plain_client_properties USER PASSWORD: a Kafka client's properties for SASL_PLAINTEXT with
# PLAIN (--command-config of Kafka's tools, the Java checks' CLIENT_PROPERTIES).
plain_client_properties() {
    cat <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$1" password="$2";
PROPS
}

# ----------------------------------------------------------------- java
# Classpath of the cached Kafka client jars (scripts/install-test-deps).
java_classpath() {
    [[ -s "$JAR_DIR/classpath.txt" ]] || fail "no Kafka jars in $JAR_DIR; run scripts/install-test-deps"
    cat "$JAR_DIR/classpath.txt"
}

# Compile compat/java/*.java once per source content (cache keyed by hash),
# so warm runs skip javac entirely. Sets JAVA_CLASSES.
java_build() {
    local cp hash
    cp="$(java_classpath)"
    hash="$(cat "$COMPAT_DIR"/java/*.java "$JAR_DIR/classpath.txt" | sha256sum | cut -c1-16)"
    JAVA_CLASSES="$KBROKER_CACHE/compat-classes/$hash"
    if [[ ! -f "$JAVA_CLASSES/.ok" ]]; then
        log "compiling compat/java -> $JAVA_CLASSES"
        rm -rf "$JAVA_CLASSES"
        mkdir -p "$JAVA_CLASSES"
        timeout 300 javac -nowarn -d "$JAVA_CLASSES" -cp "$cp" "$COMPAT_DIR"/java/*.java
        touch "$JAVA_CLASSES/.ok"
    fi
    export JAVA_CLASSES
}

# java_run TIMEOUT_SECONDS MainClass args...
# Client logging goes through log4j2 (WARN by default; JAVA_LOG_LEVEL=DEBUG
# for protocol-level detail).
java_run() {
    local secs=$1; shift
    [[ -n "${JAVA_CLASSES:-}" ]] || java_build
    timeout --kill-after=10 "$secs" java \
        -Xmx512m \
        -Dlog4j2.configurationFile="$COMPAT_DIR/java/log4j2.properties" \
        -Dkbroker.log.level="${JAVA_LOG_LEVEL:-WARN}" \
        -cp "$JAVA_CLASSES:$(java_classpath)" "$@"
}

# ----------------------------------------------------------- prometheus
# A real Prometheus (Debian package) scraping the broker's metrics listener
# every $1 (default 1s), on a free loopback port, data in $WORK. Rules from
# deploy/alerts.yml are loaded too. Sets PROM_URL and PROM_PID.
PROM_PID=""
start_prometheus() {
    local interval="${1:-1s}" port
    command -v prometheus >/dev/null || "$REPO_ROOT/scripts/install-test-deps" >&2
    command -v prometheus >/dev/null || fail "prometheus not installed"
    port="$(free_port)"
    PROM_URL="http://127.0.0.1:$port"
    printf '%s\n' \
        "global:" \
        "  scrape_interval: $interval" \
        "  evaluation_interval: $interval" \
        "rule_files:" \
        "  - $REPO_ROOT/deploy/alerts.yml" \
        "scrape_configs:" \
        "  - job_name: kbroker" \
        "    static_configs:" \
        "      - targets: ['$BROKER_METRICS']" >"$WORK/prometheus.yml"
    rm -rf "$WORK/prometheus-data"
    prometheus --config.file="$WORK/prometheus.yml" \
        --storage.tsdb.path="$WORK/prometheus-data" \
        --web.listen-address="127.0.0.1:$port" \
        >>"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
    on_exit stop_prometheus
    local deadline=$((SECONDS + 30))
    until "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$PROM_URL/-/ready" 2>/dev/null; do
        kill -0 "$PROM_PID" 2>/dev/null || { tail -20 "$WORK/prometheus.log" >&2; fail "prometheus exited"; }
        ((SECONDS < deadline)) || fail "prometheus not ready within 30s"
        sleep 0.2
    done
    log "prometheus pid=$PROM_PID on $PROM_URL scraping $BROKER_METRICS every $interval"
    export PROM_URL
}

stop_prometheus() {
    [[ -n "$PROM_PID" ]] || return 0
    kill -TERM "$PROM_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$PROM_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$PROM_PID" 2>/dev/null || true
    wait "$PROM_PID" 2>/dev/null || true
    PROM_PID=""
}

# prom_query EXPR: the value of an instant query with one result (empty if none).
prom_query() {
    "$PYTHON" "$COMPAT_DIR/prometheus_workload.py" query "$PROM_URL" "$1"
}
