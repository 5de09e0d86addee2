#!/usr/bin/env bash
# The authenticated cluster transport (issue 16): a 3-node cluster whose controller listener is
# SSL, so every Raft connection is mutual TLS with certificates of one cluster CA (made here
# with openssl: the CA, one node certificate for 127.0.0.1, and a rogue CA with a certificate
# for the same address).
#   - the cluster forms, replicates (kcat produces 2,000 records to a topic with replication
#     factor 3 and reads them back) and fails over (the partition leader is SIGKILLed, a new
#     leader takes writes, the restarted node catches up) over TLS only;
#   - probes of a node's Raft port (check-cluster-mtls.py), each sending the frame a forger
#     would (a quorum query): plaintext, TLS without a client certificate and TLS with the
#     rogue certificate are refused without a byte of answer; TLS with a cluster certificate is
#     answered (the probe works); the refusals are counted in
#     broker_tls_handshake_failures_total{listener="CONTROLLER"};
#   - afterwards the cluster is unaffected: every node /ready, all records readable, new ones
#     accepted.
# ~40 s.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"

require_kbroker "a kbroker cluster with its Raft transport secured"
command -v openssl >/dev/null || fail "openssl not installed"
TOPIC="mtls-$$"
CERTS="$WORK/certs"
mkdir -p "$CERTS"
(
    cd "$CERTS"
    for ca in ca rogue-ca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=kbroker-test-$ca" -keyout "$ca.key" -out "$ca.pem" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    done
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >leaf.ext
    for leaf in node:ca rogue:rogue-ca; do
        name="${leaf%%:*}" ca="${leaf#*:}"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
            -keyout "$name.key" -out "$name.csr"
        openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
            -days 2 -extfile leaf.ext -out "$name.pem"
        cat "$name.key" "$name.pem" >"$name-keystore.pem"
    done
) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log"; fail "making certificates"; }

cat >"$WORK/cluster-tls.properties" <<EOF
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL
listener.name.controller.ssl.keystore.type=PEM
listener.name.controller.ssl.keystore.location=$CERTS/node-keystore.pem
listener.name.controller.ssl.truststore.type=PEM
listener.name.controller.ssl.truststore.location=$CERTS/ca.pem
EOF
CLUSTER_EXTRA_ARGS="--config $WORK/cluster-tls.properties"
java_build
cluster_start 3
for i in 1 2 3; do
    grep -q 'serving peers.*tls=true' "${NODE_LOG[$i]}" || fail "node $i does not serve its Raft port with TLS"
done

produce() { # FROM TO
    seq "$1" "$2" | sed 's/^/record-/' \
        | timeout 60 kcat -b "$(live_bootstrap)" -P -t "$TOPIC" -p 0 -X acks=all \
        || fail "kcat could not produce records $1..$2"
}
# Every record, in order, from BOOTSTRAP; compared with record-1..record-N.
expect_records() { # N
    timeout 60 kcat -b "$(live_bootstrap)" -C -t "$TOPIC" -p 0 -o beginning -c "$1" -e -q >"$WORK/read.txt" \
        || fail "kcat could not read $1 records"
    seq 1 "$1" | sed 's/^/record-/' | cmp -s - "$WORK/read.txt" \
        || fail "read back $(wc -l <"$WORK/read.txt") records, not record-1..record-$1 in order"
}

cluster_tool create "$BOOTSTRAP" "$TOPIC" 1 3
produce 1 1000
expect_records 1000
log "replicated over mutual TLS: 1000 records written and read back (replication factor 3)"

leader="$(leader_of "$TOPIC" 0)"
node_kill9 "$leader"
new="$(leader_of "$TOPIC" 0 30)"
produce 1001 1500
expect_records 1500
node_restart "$leader"
_node_wait_port "$leader"
wait_caught_up "$leader" "$TOPIC" 0 1500 60
log "failover over TLS: node $leader killed, node $new took over, node $leader restarted and caught up"

raft="${NODE_RAFT[1]}"
probe() { timeout 30 "$PYTHON" "$COMPAT_DIR/check-cluster-mtls.py" 127.0.0.1 "$raft" "$@"; }
failures_before="$(curl -s "http://127.0.0.1:${NODE_MPORT[1]}/metrics" \
    | awk '/^broker_tls_handshake_failures_total\{listener="CONTROLLER"\}/ { print $2 }')"
for attempt in "plaintext" "tls-anonymous $CERTS/ca.pem" \
    "tls-cert $CERTS/ca.pem $CERTS/rogue.pem $CERTS/rogue.key"; do
    # shellcheck disable=SC2086  # mode and files are separate arguments
    result="$(probe $attempt)"
    log "probe ${attempt%% *}: $result"
    [[ "$result" == REFUSED* ]] || fail "the Raft port answered a ${attempt%% *} connection: $result"
done
result="$(probe tls-cert "$CERTS/ca.pem" "$CERTS/node.pem" "$CERTS/node.key")"
log "probe with the cluster's certificate: $result"
[[ "$result" == ANSWERED* ]] || fail "the Raft port did not answer a connection with the cluster's certificate: $result"
failures="$(curl -s "http://127.0.0.1:${NODE_MPORT[1]}/metrics" \
    | awk '/^broker_tls_handshake_failures_total\{listener="CONTROLLER"\}/ { print $2 }')"
((${failures:-0} - ${failures_before:-0} >= 3)) \
    || fail "broker_tls_handshake_failures_total{listener=\"CONTROLLER\"} went from ${failures_before:-none} to ${failures:-none}, not up by 3"
log "plaintext, anonymous TLS and a rogue CA's certificate refused before any frame was read ($failures refusals counted)"

for i in 1 2 3; do node_ready "$i" || fail "node $i is not ready after the probes"; done
produce 1501 2000
expect_records 2000
log "the cluster is unaffected: every node ready, 2000 records in order"
log "PASS"
