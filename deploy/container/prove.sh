#!/usr/bin/env bash
# Proves the container image's runtime stage on a machine without Docker's engine: Debian's
# podman builds the runtime stage of deploy/container/Dockerfile (extracted from it, so the two
# cannot drift) on a Debian bookworm rootfs made by debootstrap and imported as the base image,
# with the already-built release binary in place of the build stage's. Then it runs the image
# (non-root, read-only root file system, data in a named volume, Kafka and metrics published
# on loopback ports) and uses
# it from the host: HEALTHCHECK and /ready, kcat metadata, 1,000 records produced and read
# back, `podman stop` (SIGTERM) exits 0, and after a start on the same volume the records are
# all still there.
#
# What it does not do: the Dockerfile's build stage (cargo in rust:1-bookworm) is not run,
# because no image registry is reachable here; `cargo build --release` on this machine makes
# the same binary from the same sources.
#
#   deploy/container/prove.sh        # ~1-2 min warm; the first run adds debootstrap (~3-5 min)
#
# Env: BROKER_BIN (default $CARGO_TARGET_DIR/release/broker), KBROKER_CACHE (~/.cache/kbroker:
# the rootfs tarball), PROVE_RECORDS (1000), KEEP_IMAGES=0 removes the images at the end.
# Needs root (rootful podman): apt-get installs podman, runc, debootstrap when missing.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${KBROKER_CACHE:-$HOME/.cache/kbroker}"
BROKER_BIN="${BROKER_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/release/broker}"
RECORDS="${PROVE_RECORDS:-1000}"
BASE=localhost/kbroker-base:bookworm
IMAGE=localhost/kbroker:prove
NAME="kbroker-prove-$$"
VOLUME="kbroker-prove-data-$$"
ROOTFS_TAR="$CACHE/deploy/debian-bookworm-slim-rootfs.tar"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbroker-prove.XXXXXX")"

log() { echo "[prove $(date +%H:%M:%S)] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# This machine's kernel refuses two things podman does by default: crun gives up on the
# hybrid cgroup v1/v2 hierarchy (runc copes), and raising RLIMIT_NPROC/NOFILE above podman's
# own (no CAP_SYS_RESOURCE), so the limits are set to what the process already has.
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")

cleanup() {
    local rc=$?
    set +e
    "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1
    "${PODMAN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1
    [[ "${KEEP_IMAGES:-1}" == 1 ]] || "${PODMAN[@]}" rmi -f "$IMAGE" "$BASE" >/dev/null 2>&1
    if ((rc == 0)); then rm -rf "$WORK"; else log "exit $rc; work dir kept: $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x "$BROKER_BIN" ]] || fail "no broker binary at $BROKER_BIN (cargo build --release)"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v kcat >/dev/null || missing+=(kcat)
if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- the base image: Debian bookworm from debootstrap, trimmed like debian:bookworm-slim
if ! "${PODMAN[@]}" image exists "$BASE"; then
    if [[ ! -s "$ROOTFS_TAR" ]]; then
        log "debootstrap: Debian bookworm minbase rootfs (a few minutes)"
        mkdir -p "$(dirname "$ROOTFS_TAR")"
        timeout 1200 debootstrap --variant=minbase bookworm "$WORK/rootfs" \
            http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
        # What debian:bookworm-slim leaves out too: downloaded packages, package lists, docs.
        rm -rf "$WORK/rootfs"/var/cache/apt/archives/*.deb "$WORK/rootfs"/var/lib/apt/lists/* \
            "$WORK"/rootfs/usr/share/{doc,man,info,locale}/*
        tar -C "$WORK/rootfs" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
        rm -rf "$WORK/rootfs"
    fi
    log "podman import $ROOTFS_TAR as $BASE"
    "${PODMAN[@]}" import "$ROOTFS_TAR" "$BASE" >/dev/null
fi

# ---- the runtime stage, as written in the Dockerfile, fed the prebuilt binary
context="$WORK/context"
mkdir -p "$context/deploy/container"
cp "$REPO/deploy/container/server.properties" "$context/deploy/container/"
objcopy --strip-debug "$BROKER_BIN" "$context/kbroker"
{
    echo "ARG BASE_IMAGE=debian:bookworm-slim"
    sed -n '/^FROM \${BASE_IMAGE} AS runtime/,$p' "$REPO/deploy/container/Dockerfile" \
        | sed 's|^COPY --from=build /kbroker |COPY kbroker |'
} >"$context/Containerfile"
grep -q '^COPY kbroker /usr/local/bin/kbroker' "$context/Containerfile" \
    || fail "the Dockerfile's runtime stage no longer copies /kbroker from the build stage"
log "podman build: runtime stage of deploy/container/Dockerfile on $BASE"
timeout 900 "${PODMAN[@]}" build --format docker --network host "${LIMITS[@]}" \
    --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" -f "$context/Containerfile" "$context" \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "podman build failed"; }
size="$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}')"
log "built $IMAGE ($((size / 1000000)) MB)"

# ---- run it: loopback ports on the host, the image's own config plus KAFKA_* variables
read -r kafka_port metrics_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
bootstrap="127.0.0.1:$kafka_port"
start_container() {
    "${PODMAN[@]}" start "$NAME" >/dev/null
}
# podman would also run the HEALTHCHECK on a systemd timer, which needs systemd as PID 1 (not
# here: it logs that it cannot); `podman healthcheck run` below runs it on demand. The root
# file system is read-only, as deploy/kubernetes runs it: only the data volume is written.
"${PODMAN[@]}" create --name "$NAME" "${LIMITS[@]}" --read-only \
    -p "127.0.0.1:$kafka_port:9092" -p "127.0.0.1:$metrics_port:9644" \
    -v "$VOLUME:/var/lib/kbroker" \
    -e "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://$bootstrap" \
    -e KAFKA_NUM_PARTITIONS=3 \
    "$IMAGE" >/dev/null
start_container

wait_ready() {
    local deadline=$((SECONDS + 60))
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$metrics_port/ready")" == 200 ]]; do
        [[ "$("${PODMAN[@]}" inspect "$NAME" --format '{{.State.Running}}')" == true ]] \
            || { "${PODMAN[@]}" logs "$NAME" 2>&1 | tail -20 >&2; fail "container exited"; }
        ((SECONDS < deadline)) || fail "/ready not 200 within 60 s"
        sleep 0.5
    done
}
# /ready through the published port also proves the image's server.properties was read: the
# broker's default metrics listener is 127.0.0.1:9644, unreachable from outside the container.
wait_ready
"${PODMAN[@]}" healthcheck run "$NAME" || fail "HEALTHCHECK (curl /health inside the container) failed"
[[ "$("${PODMAN[@]}" inspect "$NAME" --format '{{.State.Health.Status}}')" == healthy ]] \
    || fail "container not healthy after the health check"
user="$("${PODMAN[@]}" exec "$NAME" id -u)"
[[ "$user" == 10001 ]] || fail "broker runs as uid $user, not 10001"
log "container $NAME up: kafka $bootstrap, metrics 127.0.0.1:$metrics_port, uid $user, healthy"

# ---- a real client from the host
metadata="$(timeout 30 kcat -b "$bootstrap" -L -J)"
python3 - "$metadata" "$bootstrap" <<'EOF' || fail "kcat -L: unexpected metadata: $metadata"
import json, sys
brokers = json.loads(sys.argv[1])["brokers"]
assert [(b["id"], b["name"]) for b in brokers] == [(1, sys.argv[2])], brokers
EOF
seq 1 "$RECORDS" | sed 's/^/record-/' >"$WORK/sent"
timeout 60 kcat -b "$bootstrap" -P -t prove -X acks=all <"$WORK/sent"
read_back() {
    timeout 60 kcat -b "$bootstrap" -C -t prove -o beginning -e -q | sort >"$WORK/read"
    sort "$WORK/sent" | cmp -s - "$WORK/read" \
        || fail "read $(wc -l <"$WORK/read") records, not the $RECORDS sent ($1)"
}
read_back "first run"
# Keyless records may all go to one partition (librdkafka's sticky partitioner): the topic's
# partition count comes from Metadata.
partitions="$(timeout 30 kcat -b "$bootstrap" -L -t prove | grep -c '^ *partition [0-9]*,' || true)"
((partitions == 3)) || fail "the auto-created topic has $partitions partitions, not KAFKA_NUM_PARTITIONS=3"
log "kcat: $RECORDS records produced (acks=all) and read back; the topic has 3 partitions"

# ---- clean stop on SIGTERM, restart on the same volume
started=$SECONDS
timeout 60 "${PODMAN[@]}" stop -t 30 "$NAME" >/dev/null
code="$("${PODMAN[@]}" inspect "$NAME" --format '{{.State.ExitCode}}')"
((code == 0)) || fail "podman stop (SIGTERM): exit code $code"
log "podman stop: exit 0 after $((SECONDS - started)) s"
start_container
wait_ready
read_back "after a restart on the same volume"
log "restarted on volume $VOLUME: all $RECORDS records still there"
log "PASS"
