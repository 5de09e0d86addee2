#!/usr/bin/env bash
# SCRAM and TLS, configured with Kafka's names: a PLAINTEXT listener on loopback (where the
# users are created), SASL_SSL with SCRAM-SHA-512 and SCRAM-SHA-256, SSL with client
# certificates required (mTLS). Certificates made here with openssl (a CA, the broker's, a
# client's).
#   - kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users
#     (AlterUserScramCredentials) creates the users; the Java Admin describes them
#     (DescribeUserScramCredentials) with mechanism and iterations
#   - the Java client over SASL_SSL/SCRAM-SHA-512: Admin, idempotent producer, consumer group;
#     a wrong password and an unknown user fail with SaslAuthenticationException
#   - kafka-python and confluent-kafka over SASL_SSL/SCRAM-SHA-256: produce, consume, refused
#     with a wrong password or an unknown user
#   - kcat over SASL_SSL/SCRAM-SHA-512 lists the broker at the SASL_SSL listener's address
#   - the Java client over SSL with its certificate (mTLS): Admin, producer, consumer group;
#     without a client certificate it fails (SslAuthenticationException)
#   - a plaintext client on the TLS port fails cleanly (kcat: no metadata, the broker counts a
#     failed TLS handshake) and the broker keeps serving
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "the listeners are configured in kbroker's server.properties form (PEM keystores)"
command -v openssl >/dev/null || fail "openssl not installed"
command -v kcat >/dev/null || fail "kcat not installed (scripts/install-test-deps)"

certificates() {
    local dir="$WORK/tls"
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=kbroker-test-ca' \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout broker.key -out broker.csr
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile broker.ext -out broker.pem
        cat broker.key broker.pem >broker-keystore.pem
        openssl req -newkey rsa:2048 -nodes -subj '/O=kbroker/OU=payments/CN=app1' \
            -keyout client.key -out client.csr
        # An X.509 v3 certificate (extensions make it one): rustls refuses v1 certificates.
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile client.ext -out client.pem
        cat client.key client.pem >client-keystore.pem
    ) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log"; fail "making certificates"; }
}
certificates
TLS="$WORK/tls"

SASL_SSL_PORT="$(free_port)"
SSL_PORT="$(free_port)"
SASL_SSL="localhost:$SASL_SSL_PORT"
SSL="localhost:$SSL_PORT"
cat >"$WORK/server.properties" <<PROPS
listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://$SASL_SSL,SSL://$SSL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
BROKER_EXTRA_ARGS="--config $WORK/server.properties" start_broker

log "kafka-configs: SCRAM users"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"
kt configs --bootstrap-server "$BOOTSTRAP" --alter --entity-type users --entity-name alice \
    --add-config 'SCRAM-SHA-512=[password=alice-secret],SCRAM-SHA-256=[iterations=8192,password=alice-secret]'
grep -q "Completed updating config for user alice" "$OUT" || kt_fail "kafka-configs did not update alice"
kt configs --bootstrap-server "$BOOTSTRAP" --alter --entity-type users --entity-name bob \
    --add-config 'SCRAM-SHA-256=[password=bob-secret]'
kt configs --bootstrap-server "$BOOTSTRAP" --alter --entity-type users --entity-name bob \
    --delete-config 'SCRAM-SHA-256'

client_properties() { # PROTOCOL MECHANISM USER PASSWORD
    cat <<PROPS
security.protocol=$1
sasl.mechanism=$2
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$3" password="$4";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
PROPS
}
client_properties SASL_SSL SCRAM-SHA-512 alice alice-secret >"$WORK/alice.properties"
client_properties SASL_SSL SCRAM-SHA-512 alice wrong >"$WORK/wrong.properties"
client_properties SASL_SSL SCRAM-SHA-512 bob bob-secret >"$WORK/bob.properties"
cat >"$WORK/mtls.properties" <<PROPS
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/client-keystore.pem
PROPS
grep -v keystore "$WORK/mtls.properties" >"$WORK/no-certificate.properties"

log "Java: describeUserScramCredentials, then Admin/producer/consumer group over SASL_SSL with SCRAM-SHA-512"
java_run 80 SecurityCheck "$BOOTSTRAP" /dev/null scram-users alice:SCRAM-SHA-512:4096,alice:SCRAM-SHA-256:8192 \
    || fail "describeUserScramCredentials"
java_run 80 SecurityCheck "$SASL_SSL" "$WORK/alice.properties" ok java-scram 500 || fail "Java client over SASL_SSL"
java_run 80 SecurityCheck "$SASL_SSL" "$WORK/wrong.properties" auth-fails || fail "Java client with a wrong password"
java_run 80 SecurityCheck "$SASL_SSL" "$WORK/bob.properties" auth-fails || fail "Java client as a deleted user"

log "kcat over SASL_SSL with SCRAM-SHA-512"
timeout 30 kcat -b "$SASL_SSL" -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \
    -X sasl.username=alice -X sasl.password=alice-secret -X ssl.ca.location="$TLS/ca.pem" -L -m 10 \
    >"$WORK/kcat-L.txt" 2>&1 || { cat "$WORK/kcat-L.txt"; fail "kcat -L over SASL_SSL"; }
grep -q "broker 1 at $SASL_SSL" "$WORK/kcat-L.txt" || { cat "$WORK/kcat-L.txt"; fail "kcat: broker 1 not at $SASL_SSL"; }

log "kafka-python and confluent-kafka over SASL_SSL with SCRAM-SHA-256"
timeout 120 "$PYTHON" "$COMPAT_DIR/check-security-clients.py" "$SASL_SSL" SASL_SSL SCRAM-SHA-256 alice alice-secret \
    --cafile "$TLS/ca.pem" || fail "python clients over SASL_SSL"

log "Java over SSL with a client certificate (mTLS), and without one"
java_run 80 SecurityCheck "$SSL" "$WORK/mtls.properties" ok java-mtls 300 || fail "Java client over mTLS"
java_run 80 SecurityCheck "$SSL" "$WORK/no-certificate.properties" auth-fails || fail "Java client without a certificate"

log "a plaintext client on the TLS port"
timeout 30 kcat -b "$SASL_SSL" -L -m 5 >"$WORK/kcat-plain.txt" 2>&1 && fail "kcat without TLS got metadata from the TLS port"
broker_alive || fail "the broker died"
timeout 30 kcat -b "$BOOTSTRAP" -L -m 10 >/dev/null 2>&1 || fail "the PLAINTEXT listener stopped answering"
"$PYTHON" - "http://$BROKER_METRICS/metrics" >"$WORK/metrics.txt" <<'PY' || fail "GET /metrics"
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
PY
grep -E '^broker_tls_handshake_failures_total\{listener="SASL_SSL"\} [1-9]' "$WORK/metrics.txt" >/dev/null \
    || fail "no failed TLS handshake counted on SASL_SSL"
grep -E '^broker_sasl_authentications_total\{mechanism="SCRAM-SHA-512",result="success"\} [1-9]' "$WORK/metrics.txt" >/dev/null \
    || fail "no SCRAM-SHA-512 successes in the metrics"
grep -E '^broker_sasl_authentications_total\{mechanism="SCRAM-SHA-512",result="failure"\} [1-9]' "$WORK/metrics.txt" >/dev/null \
    || fail "no SCRAM-SHA-512 failures in the metrics"
log "PASS"
