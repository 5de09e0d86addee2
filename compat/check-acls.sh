#!/usr/bin/env bash
# Authorization with Kafka's StandardAuthorizer settings (authorizer.class.name, super.users),
# over SASL_PLAINTEXT with PLAIN users; the same server.properties lines on kbroker and on the
# reference Apache Kafka (COMPAT_TARGET=kafka):
#   - Kafka's own kafka-acls adds ACLs (literal, prefixed, deny) and lists them; a principal
#     that is not a super user may not (ClusterAuthorizationException)
#   - the Java consumer (AclCheck) as alice: TopicAuthorizationException on a topic without
#     READ, reads a topic with a literal READ, one under a prefixed READ, and gets
#     TopicAuthorizationException where a DENY overrides the prefixed ALLOW; after kafka-acls
#     --remove of the DENY it reads that topic too
#   - the ACLs survive a restart; kbroker counts the denials in its metrics
# User:ANONYMOUS is a super user because Kafka's own broker-to-controller traffic is plaintext
# (anonymous) here; clients of the check all come in over SASL.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"

SASL_PORT="$(free_port)"
SASL="127.0.0.1:$SASL_PORT"
SECURITY='sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS'
if [[ "$COMPAT_TARGET" == kafka ]]; then
    export KAFKA_REF_EXTRA_LISTENERS="SASL_PLAINTEXT://$SASL"
    export KAFKA_REF_EXTRA_PROTOCOLS="SASL_PLAINTEXT:SASL_PLAINTEXT"
    export KAFKA_REF_EXTRA_CONFIG="$SECURITY"
    start_broker
else
    cat >"$WORK/server.properties" <<PROPS
listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://$SASL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
$SECURITY
PROPS
    # --listen (start_broker) moves the first listener, PLAINTEXT, to a free port; exported
    # so that restart_broker keeps the config.
    export BROKER_EXTRA_ARGS="--config $WORK/server.properties"
    start_broker
fi

plain_client_properties admin admin-secret >"$WORK/admin.properties"
plain_client_properties alice alice-secret >"$WORK/alice.properties"
ADMIN=(--bootstrap-server "$SASL" --command-config "$WORK/admin.properties")

log "setup as admin (a super user): four topics of 20 records"
java_run 120 AclCheck "$SASL" "$WORK/admin.properties" setup 20 acl-orders acl-private acl-pay-eu acl-pay-secret \
    || fail "setup as admin"

log "kafka-acls --add: literal, prefixed and deny"
kt acls "${ADMIN[@]}" --add --allow-principal User:alice --operation Read --topic acl-orders
kt acls "${ADMIN[@]}" --add --allow-principal User:alice --operation Read \
    --resource-pattern-type prefixed --topic acl-pay- --group acl-
kt acls "${ADMIN[@]}" --add --deny-principal User:alice --operation Read --topic acl-pay-secret

log "kafka-acls --list"
kt acls "${ADMIN[@]}" --list
for pattern in \
    'resourceType=TOPIC, name=acl-orders, patternType=LITERAL' \
    'resourceType=TOPIC, name=acl-pay-, patternType=PREFIXED' \
    'resourceType=GROUP, name=acl-, patternType=PREFIXED' \
    'resourceType=TOPIC, name=acl-pay-secret, patternType=LITERAL' \
    'principal=User:alice, host=\*, operation=READ, permissionType=ALLOW' \
    'principal=User:alice, host=\*, operation=READ, permissionType=DENY'; do
    grep -q "$pattern" "$OUT" || kt_fail "kafka-acls --list: no '$pattern'"
done
kt acls "${ADMIN[@]}" --list --topic acl-orders
[[ "$(grep -c 'permissionType=' "$OUT")" == 1 ]] || kt_fail "kafka-acls --list --topic acl-orders: not exactly one ACL"

log "kafka-acls as alice, who is not a super user"
kt_try acls --bootstrap-server "$SASL" --command-config "$WORK/alice.properties" \
    --add --allow-principal User:alice --operation All --topic acl-private || true
grep -q 'ClusterAuthorizationException' "$OUT" "$KT_ERR" || kt_fail "alice added an ACL"

log "Java consumer as alice"
java_run 90 AclCheck "$SASL" "$WORK/alice.properties" denied acl-g1 acl-private \
    || fail "no TopicAuthorizationException without READ"
java_run 90 AclCheck "$SASL" "$WORK/alice.properties" read acl-g2 20 acl-orders \
    || fail "alice could not read with a literal READ"
java_run 90 AclCheck "$SASL" "$WORK/alice.properties" read acl-g3 20 acl-pay-eu \
    || fail "alice could not read with a prefixed READ"
java_run 90 AclCheck "$SASL" "$WORK/alice.properties" denied acl-g4 acl-pay-secret \
    || fail "the DENY did not override the prefixed ALLOW"

log "kafka-acls --remove of the DENY"
kt acls "${ADMIN[@]}" --remove --force --deny-principal User:alice --operation Read --topic acl-pay-secret
java_run 90 AclCheck "$SASL" "$WORK/alice.properties" read acl-g5 20 acl-pay-secret \
    || fail "alice could not read once the DENY was removed"

log "the ACLs survive a restart"
restart_broker
kt acls "${ADMIN[@]}" --list
[[ "$(grep -c 'permissionType=ALLOW' "$OUT")" == 3 ]] || kt_fail "after the restart: not the 3 ALLOW ACLs"
! grep -q 'permissionType=DENY' "$OUT" || kt_fail "after the restart: the removed DENY is back"

broker_alive || fail "the broker died"
if [[ "$COMPAT_TARGET" != kafka ]]; then
    java_run 90 AclCheck "$SASL" "$WORK/alice.properties" denied acl-g6 acl-private \
        || fail "no TopicAuthorizationException after the restart"
    metrics="$("$PYTHON" -c "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())" "http://$BROKER_METRICS/metrics")"
    grep -E '^broker_authorization_denials_total\{api="[A-Za-z]+"\} [1-9]' <<<"$metrics" >/dev/null \
        || fail "no authorization denials in the metrics"
fi
log "PASS"
