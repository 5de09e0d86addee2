#!/usr/bin/env bash
# Kafka's configuration names: brokers started from nothing but a Kafka server.properties, the
# very file compat/kafka-ref.sh starts Apache Kafka with (kafka_ref_config: process.roles,
# controller.quorum.voters, listeners with a CONTROLLER listener, log.dirs, ...), then real
# clients against them.
#   single:  node 1 from server.properties (+ num.partitions=3, log.retention.ms=3600000):
#            the Kafka keys it does not implement are logged as ignored; kcat -L shows broker 1
#            at the listener; a topic auto-created by kcat has 3 partitions and gives back the
#            records; kafka-configs (Java Admin) describes num.partitions and log.retention.ms
#            as STATIC_BROKER_CONFIG and the topic's retention.ms as 3600000.
#            With COMPAT_TARGET=kafka the same file starts Apache Kafka (reference mode).
#   env:     restarted with KAFKA_NUM_PARTITIONS=2 and KAFKA_ADVERTISED_LISTENERS (over the
#            file): a new topic has 2 partitions, Metadata gives the new address.
#   errors:  a misspelt key (num.partitons), an SSL listener without a PEM keystore (or with a
#            JKS one) and a SASL listener without users stop the broker at startup
#            with a message naming the line.
#   cluster: 3 nodes, each from its own server.properties (controller.quorum.voters and
#            kbroker.peers): kcat -L lists 3 brokers, kafka-topics creates a topic with
#            replication factor 3 (ISR of 3), kcat produces with acks=all and reads back.
# PROPS_SECTIONS="single cluster" runs some. ~1 minute.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$(dirname "$0")/cluster.sh"

SECTIONS="${PROPS_SECTIONS:-single env errors cluster}"
# Against Apache Kafka only the file itself is the reference's business.
[[ "$COMPAT_TARGET" == kafka ]] && SECTIONS="${PROPS_SECTIONS:-single}"
RECORDS=500
command -v kcat >/dev/null || fail "kcat not installed (scripts/install-test-deps)"

section() { [[ " $SECTIONS " == *" $1 "* ]]; }

# kcat_roundtrip BOOTSTRAP TOPIC PARTITIONS: RECORDS records in (acks=all, topic auto-created
# or existing), the same records out, spread over exactly PARTITIONS partitions.
kcat_roundtrip() {
    local bootstrap=$1 topic=$2 partitions=$3 got
    seq 1 "$RECORDS" | sed "s/^/$topic-/" >"$WORK/$topic.sent"
    timeout 60 kcat -b "$bootstrap" -P -t "$topic" -X acks=all -X topic.metadata.refresh.interval.ms=500 \
        <"$WORK/$topic.sent" || fail "kcat -P $topic"
    timeout 60 kcat -b "$bootstrap" -C -t "$topic" -o beginning -e -q -f '%p %s\n' >"$WORK/$topic.read" \
        || fail "kcat -C $topic"
    cut -d' ' -f2 "$WORK/$topic.read" | sort | cmp -s - <(sort "$WORK/$topic.sent") \
        || fail "$topic: read $(wc -l <"$WORK/$topic.read") records, not the $RECORDS sent"
    got="$(timeout 30 kcat -b "$bootstrap" -L -t "$topic" | grep -c '^ *partition [0-9]*,' || true)"
    [[ "$got" == "$partitions" ]] || fail "$topic has $got partitions, not $partitions"
    log "$topic: $RECORDS records through kcat, $partitions partitions"
}

# launch_from_properties FILE [ENV...]: the broker with --config FILE alone (COMPAT_TARGET=kafka:
# Apache Kafka with the same file); waits for its Kafka port.
launch_from_properties() {
    local file=$1
    shift
    if [[ "$COMPAT_TARGET" == kafka ]]; then
        kafka_ref_launch "$file" "$BROKER_LOG"
        BROKER_PID=$KAFKA_REF_PID
        kafka_ref_wait_ready "$BROKER_PID" "$BROKER_LOG" "$KAFKA_REF_LOG_FROM" "$BROKER_PORT" 90 \
            || fail "Apache Kafka did not start from $file"
        return
    fi
    echo "==== start $(date +%T) --config $file $*" >>"$BROKER_LOG"
    env NO_COLOR=1 "$@" "$BROKER_BIN" --config "$file" >>"$BROKER_LOG" 2>&1 &
    BROKER_PID=$!
    wait_broker_port
}

if section single || section env; then
    BROKER_DATA_DIR="$WORK/data"
    read -r BROKER_PORT controller_port metrics_port <<<"$(free_ports 3)"
    BOOTSTRAP="127.0.0.1:$BROKER_PORT"
    PROPS="$WORK/server.properties"
    KAFKA_REF_EXTRA_CONFIG="num.partitions=3
log.retention.ms=3600000
kbroker.metrics.listen=127.0.0.1:$metrics_port" \
        kafka_ref_config "$PROPS" 1 "$BROKER_PORT" "$controller_port" "$BROKER_DATA_DIR" \
        "1@127.0.0.1:$controller_port"
    if [[ "$COMPAT_TARGET" == kafka ]]; then
        kafka_ref_format "$PROPS" "$(kafka_ref_cluster_id)" >>"$BROKER_LOG" 2>&1 || fail "kafka-storage format"
    fi
    launch_from_properties "$PROPS"
    log "broker pid $BROKER_PID from $PROPS on $BOOTSTRAP"
fi

if section single; then
    if [[ "$COMPAT_TARGET" == kbroker ]]; then
        for key in process.roles inter.broker.listener.name offsets.topic.replication.factor; do
            grep -q "$key is a Kafka broker config this broker does not implement; ignored" "$BROKER_LOG" \
                || fail "no notice that $key is ignored"
        done
    fi
    timeout 30 kcat -b "$BOOTSTRAP" -L >"$WORK/metadata.txt" 2>&1 || fail "kcat -L: $(cat "$WORK/metadata.txt")"
    grep -q "broker 1 at $BOOTSTRAP" "$WORK/metadata.txt" || fail "kcat -L: no broker 1 at $BOOTSTRAP: $(cat "$WORK/metadata.txt")"
    kcat_roundtrip "$BOOTSTRAP" props-auto 3
    timeout 120 "$COMPAT_DIR/kafka" configs --bootstrap-server "$BOOTSTRAP" --entity-type brokers \
        --entity-name 1 --describe --all >"$WORK/broker-configs.txt" 2>&1 || fail "kafka-configs: $(tail -5 "$WORK/broker-configs.txt")"
    for synonym in STATIC_BROKER_CONFIG:num.partitions=3 STATIC_BROKER_CONFIG:log.retention.ms=3600000; do
        grep -q "$synonym" "$WORK/broker-configs.txt" \
            || fail "kafka-configs --entity-name 1: no $synonym: $(grep -E 'num.partitions|log.retention.ms' "$WORK/broker-configs.txt")"
    done
    timeout 120 "$COMPAT_DIR/kafka" configs --bootstrap-server "$BOOTSTRAP" --entity-type topics \
        --entity-name props-auto --describe --all >"$WORK/topic-configs.txt" 2>&1 || fail "kafka-configs topic"
    grep -qE '^ *retention.ms=3600000 ' "$WORK/topic-configs.txt" \
        || fail "topic retention.ms is not the static log.retention.ms: $(grep retention.ms "$WORK/topic-configs.txt")"
    log "single: kafka-configs describes num.partitions and log.retention.ms as static broker configs"
fi

if section env; then
    require_kbroker "KAFKA_* variables are the Kafka images' convention, not Apache Kafka's scripts'"
    # The cluster is founded (its broker list committed) with the file's address first.
    timeout 30 kcat -b "$BOOTSTRAP" -L 2>&1 | grep -q "broker 1 at $BOOTSTRAP" \
        || fail "kcat -L: no broker 1 at $BOOTSTRAP before the restart"
    stop_broker
    # localhost rather than 127.0.0.1: a restarted broker tells clients its new address.
    launch_from_properties "$PROPS" KAFKA_NUM_PARTITIONS=2 \
        "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:$BROKER_PORT"
    timeout 30 kcat -b "$BOOTSTRAP" -L >"$WORK/metadata-env.txt" 2>&1 || fail "kcat -L after the restart"
    grep -q "broker 1 at localhost:$BROKER_PORT" "$WORK/metadata-env.txt" \
        || fail "KAFKA_ADVERTISED_LISTENERS not in Metadata after a restart: $(cat "$WORK/metadata-env.txt")"
    kcat_roundtrip "$BOOTSTRAP" props-env 2
    stop_broker
fi

if section errors; then
    require_kbroker "kbroker's own refusal of names Kafka does not have"
    # expect_refusal NAME TEXT...: the broker started from a file with these lines exits
    # non-zero at once, its message containing NAME's line.
    expect_refusal() {
        local file="$WORK/bad.properties" refusal="$WORK/bad.out" expected=$1 rc=0
        shift
        printf '%s\n' "node.id=1" "log.dirs=$WORK/bad-data" "$@" >"$file"
        timeout 20 "$BROKER_BIN" --config "$file" >"$refusal" 2>&1 || rc=$?
        ((rc != 0 && rc != 124)) || fail "broker with '$*' did not refuse to start (rc $rc)"
        grep -q -- "$expected" "$refusal" || fail "broker with '$*': expected '$expected' in: $(cat "$refusal")"
    }
    expect_refusal "line 3: num.partitons: not a Kafka broker config" "num.partitons=3"
    expect_refusal "line 3: listeners: listener SSL is SSL: set ssl.keystore.type=PEM" \
        "listeners=SSL://127.0.0.1:$(free_port)"
    expect_refusal "ssl.keystore.type is JKS: only PEM is supported" \
        "listeners=SSL://127.0.0.1:$(free_port)" "ssl.keystore.location=/etc/kafka/keystore.jks"
    expect_refusal "listener SASL_PLAINTEXT enables PLAIN but has no users" \
        "listeners=SASL_PLAINTEXT://127.0.0.1:$(free_port)"
    log "errors: a misspelt key, a TLS listener without a PEM keystore and a SASL listener without users are refused at startup"
fi

if section cluster; then
    require_kbroker "Apache Kafka's own 3-node runs are check-cluster-kafka-tools.sh's"
    # cluster.sh's nodes, each started from its own server.properties instead of flags.
    _node_launch() {
        local i=$1 voters="" j file="$WORK/node-$1.properties"
        for ((j = 1; j <= CLUSTER_NODES; j++)); do
            voters+="${voters:+,}$j@127.0.0.1:${NODE_RAFT[$j]}"
        done
        KAFKA_REF_EXTRA_CONFIG="kbroker.peers=$PEERS
kbroker.metrics.listen=127.0.0.1:${NODE_MPORT[$i]}" \
            kafka_ref_config "$file" "$i" "${NODE_PORT[$i]}" "${NODE_RAFT[$i]}" "${NODE_DATA[$i]}" "$voters" 3
        NO_COLOR=1 "$BROKER_BIN" --config "$file" >>"${NODE_LOG[$i]}" 2>&1 &
        NODE_PID[i]=$!
        NODE_STATE[i]=up
    }
    cluster_start 3
    brokers="$(timeout 30 kcat -b "$BOOTSTRAP" -L | sed -nE 's/^ *([0-9]+) brokers:.*/\1/p')"
    [[ "$brokers" == 3 ]] || fail "kcat -L lists $brokers brokers, not 3"
    timeout 120 "$COMPAT_DIR/kafka" topics --bootstrap-server "$BOOTSTRAP" --create --topic props-cluster \
        --partitions 3 --replication-factor 3 >"$WORK/create.txt" 2>&1 || fail "kafka-topics --create: $(cat "$WORK/create.txt")"
    kcat_roundtrip "$BOOTSTRAP" props-cluster 3
    timeout 120 "$COMPAT_DIR/kafka" topics --bootstrap-server "$BOOTSTRAP" --describe --topic props-cluster \
        >"$WORK/describe.txt" 2>&1 || fail "kafka-topics --describe"
    isr3="$(grep -cE 'Isr: [123],[123],[123]' "$WORK/describe.txt" || true)"
    [[ "$isr3" == 3 ]] || fail "not every partition has an ISR of 3: $(cat "$WORK/describe.txt")"
    log "cluster: 3 nodes from server.properties files, replication factor 3, ISR 3"
fi
log "PASS ($SECTIONS)"
