#!/usr/bin/env bash
# Runs deploy/systemd/kbroker.service under a real systemd, which this machine's PID 1 is not:
# a podman container booting systemd (the Debian rootfs of deploy/container/prove.sh plus
# Debian's systemd), with the unit, server.properties and the release binary installed as
# deploy/README.md says. Then: the service is active under its dynamic user with its sandbox
# (so the system-call filter, MemoryDenyWriteExecute and the read-only system let the broker
# run), /etc/kbroker/kbroker.env's KAFKA_* variables reach it, kcat from the host produces and
# reads back 1,000 records, `systemctl stop` ends it cleanly (SIGTERM, status 0) within
# TimeoutStopSec, and after a start every record is still in the StateDirectory.
#
# The container is --privileged: the unit's sandbox needs mount namespaces (without them
# systemd fails it with 226/NAMESPACE, as it would on a host that forbids them).
#
#   deploy/systemd/prove.sh        # ~1 min once the base image exists
#
# Env: BROKER_BIN, KBROKER_CACHE as for deploy/container/prove.sh.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${KBROKER_CACHE:-$HOME/.cache/kbroker}"
BROKER_BIN="${BROKER_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/release/broker}"
BASE=localhost/kbroker-base:bookworm
IMAGE=localhost/kbroker-systemd:prove
NAME="kbroker-systemd-prove-$$"
RECORDS=1000
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbroker-systemd-prove.XXXXXX")"
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")

log() { echo "[systemd-prove $(date +%H:%M:%S)] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
cleanup() {
    local rc=$?
    set +e
    "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1
    if ((rc == 0)); then rm -rf "$WORK"; else log "exit $rc; work dir kept: $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x "$BROKER_BIN" ]] || fail "no broker binary at $BROKER_BIN (cargo build --release)"
if ! "${PODMAN[@]}" image exists "$BASE"; then
    log "no $BASE yet: deploy/container/prove.sh makes it"
    KEEP_IMAGES=1 "$REPO/deploy/container/prove.sh"
fi

context="$WORK/context"
mkdir -p "$context"
objcopy --strip-debug "$BROKER_BIN" "$context/kbroker"
cp "$REPO/deploy/systemd/kbroker.service" "$REPO/deploy/systemd/server.properties" "$context/"
cat >"$context/Containerfile" <<'EOF'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends systemd systemd-sysv libstdc++6 procps \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# The install steps of deploy/README.md.
COPY kbroker /usr/local/bin/kbroker
COPY server.properties /etc/kbroker/server.properties
COPY kbroker.service /etc/systemd/system/kbroker.service
RUN systemctl enable kbroker.service
CMD ["/sbin/init"]
EOF
log "podman build: Debian systemd with the unit on $BASE"
timeout 900 "${PODMAN[@]}" build --network host "${LIMITS[@]}" --build-arg "BASE_IMAGE=$BASE" \
    -t "$IMAGE" -f "$context/Containerfile" "$context" >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; fail "podman build failed"; }

read -r kafka_port metrics_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
bootstrap="127.0.0.1:$kafka_port"
"${PODMAN[@]}" run -d --name "$NAME" --privileged --systemd=always "${LIMITS[@]}" \
    -p "127.0.0.1:$kafka_port:9092" -p "127.0.0.1:$metrics_port:9644" "$IMAGE" >/dev/null
in_box() { "${PODMAN[@]}" exec "$NAME" "$@"; }

# systemd up, then the per-host variables of the README (metrics on every interface so the
# published port reaches them, and the address the host's clients use).
deadline=$((SECONDS + 60))
until [[ "$(in_box systemctl is-system-running 2>/dev/null || true)" =~ ^(running|degraded)$ ]]; do
    ((SECONDS < deadline)) || fail "systemd did not boot in the container"
    sleep 0.5
done
in_box sh -c "printf '%s\n' KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://$bootstrap \
    KAFKA_KBROKER_METRICS_LISTEN=0.0.0.0:9644 >/etc/kbroker/kbroker.env"
in_box systemctl restart kbroker

wait_ready() {
    local deadline=$((SECONDS + 60))
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$metrics_port/ready")" == 200 ]]; do
        ((SECONDS < deadline)) || { in_box journalctl -u kbroker --no-pager | tail -20 >&2; fail "/ready not 200 within 60 s"; }
        sleep 0.5
    done
}
wait_ready
[[ "$(in_box systemctl is-active kbroker)" == active ]] || fail "kbroker.service is not active"
user="$(in_box ps -o user= -C kbroker)"
[[ "$user" != root && -n "$user" ]] || fail "the broker runs as '$user', not a dynamic user"
exposure="$(in_box systemd-analyze security kbroker.service 2>/dev/null \
    | sed -nE 's/.*Overall exposure level for kbroker.service: ([0-9.]+).*/\1/p')"
log "kbroker.service active as user $user (exposure $exposure), Kafka $bootstrap"

timeout 30 kcat -b "$bootstrap" -L | grep -q "broker 1 at $bootstrap" \
    || fail "Metadata does not advertise $bootstrap (kbroker.env not read?)"
seq 1 "$RECORDS" | sed 's/^/systemd-/' >"$WORK/sent"
timeout 60 kcat -b "$bootstrap" -P -t systemd -X acks=all <"$WORK/sent" || fail "kcat -P"
read_back() {
    timeout 60 kcat -b "$bootstrap" -C -t systemd -o beginning -e -q | sort >"$WORK/read"
    sort "$WORK/sent" | cmp -s - "$WORK/read" || fail "read $(wc -l <"$WORK/read") records, not $RECORDS ($1)"
}
read_back "first run"
log "kcat: $RECORDS records produced (acks=all) and read back"

started=$SECONDS
in_box systemctl stop kbroker
result="$(in_box systemctl show kbroker -p Result --value)"
status="$(in_box systemctl show kbroker -p ExecMainStatus --value)"
[[ "$result" == success && "$status" == 0 ]] || fail "systemctl stop: result $result, exit status $status"
log "systemctl stop: result $result, exit status $status, $((SECONDS - started)) s"
in_box systemctl start kbroker
wait_ready
read_back "after a restart"
log "restarted: all $RECORDS records still in /var/lib/kbroker"
log "PASS"
