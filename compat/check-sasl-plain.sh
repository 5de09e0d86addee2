#!/usr/bin/env bash
# SASL_PLAINTEXT with PLAIN next to a PLAINTEXT listener, configured with Kafka's names in a
# server.properties (listeners, listener.security.protocol.map, sasl.enabled.mechanisms, the
# listener's PlainLoginModule JAAS entry with user_NAME="PASSWORD" options):
#   - kcat (librdkafka 2.0.2): -L over SASL lists the broker at the SASL listener's address (the
#     PLAINTEXT one at its own), produce and consume back; a wrong password is refused with
#     "Invalid username or password"
#   - the Java client (SecurityCheck): Admin, idempotent producer, consumer group over SASL;
#     a wrong password and an unknown user fail with SaslAuthenticationException
#   - kafka-python and confluent-kafka (check-security-clients.py): produce and consume back,
#     wrong password and unknown user refused
#   - the broker served throughout: the PLAINTEXT listener still answers, and the metrics count
#     PLAIN successes and failures
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
require_kbroker "the SASL listener is configured in kbroker's server.properties form"
command -v kcat >/dev/null || fail "kcat not installed (scripts/install-test-deps)"

SASL_PORT="$(free_port)"
SASL="127.0.0.1:$SASL_PORT"
cat >"$WORK/server.properties" <<PROPS
listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
    user_admin="admin-secret" \\
    user_alice="alice-secret";
PROPS
# --listen (start_broker) moves the first listener, PLAINTEXT, to a free port.
BROKER_EXTRA_ARGS="--config $WORK/server.properties" start_broker

KCAT_SASL=(-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=PLAIN -X sasl.username=alice)
log "kcat -L over SASL_PLAINTEXT"
timeout 30 kcat -b "$SASL" "${KCAT_SASL[@]}" -X sasl.password=alice-secret -L -m 10 \
    >"$WORK/kcat-L.txt" 2>&1 || { cat "$WORK/kcat-L.txt"; fail "kcat -L over SASL failed"; }
grep -q "broker 1 at $SASL" "$WORK/kcat-L.txt" || { cat "$WORK/kcat-L.txt"; fail "kcat -L over SASL: broker 1 not at $SASL"; }
timeout 30 kcat -b "$BOOTSTRAP" -L -m 10 >"$WORK/kcat-L-plain.txt" 2>&1 || fail "kcat -L over PLAINTEXT failed"
grep -q "broker 1 at $BOOTSTRAP" "$WORK/kcat-L-plain.txt" || fail "kcat -L over PLAINTEXT: broker 1 not at $BOOTSTRAP"

log "kcat produce and consume over SASL"
seq 1 200 | sed 's/^/sasl-/' >"$WORK/sent.txt"
timeout 30 kcat -b "$SASL" "${KCAT_SASL[@]}" -X sasl.password=alice-secret -P -t kcat-sasl \
    -X topic.request.required.acks=all <"$WORK/sent.txt" || fail "kcat -P over SASL failed"
timeout 30 kcat -b "$SASL" "${KCAT_SASL[@]}" -X sasl.password=alice-secret -C -t kcat-sasl \
    -o beginning -e -q >"$WORK/read.txt" || fail "kcat -C over SASL failed"
cmp -s "$WORK/sent.txt" "$WORK/read.txt" || fail "kcat read $(wc -l <"$WORK/read.txt") lines, not the 200 it wrote"

log "kcat with a wrong password"
timeout 30 kcat -b "$SASL" "${KCAT_SASL[@]}" -X sasl.password=wrong -L -m 5 \
    >"$WORK/kcat-wrong.txt" 2>&1 && fail "kcat -L with a wrong password succeeded"
grep -q "Invalid username or password" "$WORK/kcat-wrong.txt" \
    || { cat "$WORK/kcat-wrong.txt"; fail "kcat with a wrong password: no 'Invalid username or password'"; }

log "Java client: Admin, producer, consumer group over SASL_PLAINTEXT"
plain_client_properties alice alice-secret >"$WORK/alice.properties"
plain_client_properties alice wrong >"$WORK/wrong.properties"
plain_client_properties mallory alice-secret >"$WORK/unknown.properties"
java_run 80 SecurityCheck "$SASL" "$WORK/alice.properties" ok java-sasl 500 || fail "Java client over SASL_PLAINTEXT"
java_run 80 SecurityCheck "$SASL" "$WORK/wrong.properties" auth-fails || fail "Java client with a wrong password"
java_run 80 SecurityCheck "$SASL" "$WORK/unknown.properties" auth-fails || fail "Java client as an unknown user"

log "kafka-python and confluent-kafka over SASL_PLAINTEXT"
timeout 120 "$PYTHON" "$COMPAT_DIR/check-security-clients.py" "$SASL" SASL_PLAINTEXT PLAIN alice alice-secret \
    || fail "python clients over SASL_PLAINTEXT"

broker_alive || fail "the broker died"
timeout 30 kcat -b "$BOOTSTRAP" -L -m 10 >/dev/null 2>&1 || fail "the PLAINTEXT listener stopped answering"
metrics="$("$PYTHON" -c "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())" "http://$BROKER_METRICS/metrics")"
grep -E '^broker_sasl_authentications_total\{mechanism="PLAIN",result="success"\} [1-9]' <<<"$metrics" >/dev/null \
    || fail "no PLAIN successes in the metrics"
grep -E '^broker_sasl_authentications_total\{mechanism="PLAIN",result="failure"\} [1-9]' <<<"$metrics" >/dev/null \
    || fail "no PLAIN failures in the metrics"
log "PASS"
