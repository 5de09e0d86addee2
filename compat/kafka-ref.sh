# shellcheck shell=bash
# The reference: real Apache Kafka brokers of the pinned release (compat/kafka-env.sh), started
# through compat/kafka exactly as bin/kafka-server-start.sh would. KRaft nodes that are broker
# and controller in one process, a static controller quorum, loopback listeners only, a fresh
# random cluster id, data in a directory the caller owns. Processes are started and stopped by
# PID; every wait is bounded.
#
# Sourced by lib.sh after its helpers (log, fail, free_port, port_open):
#   - COMPAT_TARGET=kafka: start_broker/restart_broker/stop_broker/kill9_broker run one node
#     (kafka_ref_config, kafka_ref_format, kafka_ref_wait_ready).
#   - kafka_ref_cluster_start N / kafka_ref_cluster_stop: N nodes, all of them voters.
#
# Env: KAFKA_REF_EXTRA_CONFIG  lines appended to every node's server.properties
#      KAFKA_REF_EXTRA_LISTENERS more client listeners (NAME://127.0.0.1:PORT,...), advertised as
#                                bound, with their protocols in KAFKA_REF_EXTRA_PROTOCOLS
#                                (NAME:PROTOCOL,...); single node only (the ports are fixed)
#      KAFKA_HEAP_OPTS         as for bin/kafka-server-start.sh (-Xmx1G -Xms1G)

# kafka_ref_config FILE NODE_ID PORT CONTROLLER_PORT LOG_DIR VOTERS [REPLICATION_FACTOR]
# VOTERS is controller.quorum.voters, e.g. 1@127.0.0.1:9093. The defaults that differ from
# Kafka's are the ones a single node needs (internal topics with replication factor 1) and
# kbroker's own (16 __consumer_offsets partitions; replication factor 3 in a cluster).
kafka_ref_config() {
    local file=$1 id=$2 port=$3 cport=$4 dir=$5 voters=$6 rf=${7:-1}
    local extra=${KAFKA_REF_EXTRA_LISTENERS:+,$KAFKA_REF_EXTRA_LISTENERS}
    local protocols=${KAFKA_REF_EXTRA_PROTOCOLS:+,$KAFKA_REF_EXTRA_PROTOCOLS}
    cat >"$file" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$extra
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$extra
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$protocols
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir
num.partitions=1
default.replication.factor=$rf
offsets.topic.num.partitions=16
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
EOF
    [[ -z "${KAFKA_REF_EXTRA_CONFIG:-}" ]] || printf '%s\n' "$KAFKA_REF_EXTRA_CONFIG" >>"$file"
}

# kafka_ref_format CONFIG CLUSTER_ID: bin/kafka-storage.sh format (output on stdout).
kafka_ref_format() {
    timeout 60 "$COMPAT_DIR/kafka" storage format -t "$2" -c "$1"
}

# A random cluster id, as bin/kafka-storage.sh random-uuid prints it.
kafka_ref_cluster_id() {
    timeout 60 "$COMPAT_DIR/kafka" storage random-uuid
}

# kafka_ref_launch CONFIG LOG: starts a node in the background, sets KAFKA_REF_PID (compat/kafka
# execs the JVM, so this is the broker's own PID) and KAFKA_REF_LOG_FROM (the log's line count
# before it, for kafka_ref_wait_ready).
kafka_ref_launch() {
    KAFKA_REF_LOG_FROM=$(wc -l <"$2" 2>/dev/null || echo 0)
    "$COMPAT_DIR/kafka" server-start "$1" >>"$2" 2>&1 &
    KAFKA_REF_PID=$!
}

# kafka_ref_wait_ready PID LOG LOG_FROM PORT SECONDS: until the node logs "Kafka Server started"
# (after line LOG_FROM) and 127.0.0.1:PORT accepts; non-zero if it exits or the time runs out.
kafka_ref_wait_ready() {
    local pid=$1 logf=$2 from=$3 port=$4 deadline=$((SECONDS + $5))
    until tail -n "+$((from + 1))" "$logf" | grep -q 'Kafka Server started' && port_open "$port"; do
        kill -0 "$pid" 2>/dev/null || { log "Apache Kafka pid $pid exited during startup"; return 1; }
        ((SECONDS < deadline)) || { log "Apache Kafka pid $pid not started within $5 s"; return 1; }
        sleep 0.2
    done
}

# kafka_ref_stop PID...: SIGTERM to all (controlled shutdown), SIGKILL to any still running
# after KAFKA_REF_STOP_TIMEOUT (20 s), then reaped. A JVM ended by SIGTERM exits 143: that is
# how Kafka stops normally.
kafka_ref_stop() {
    local pid secs=${KAFKA_REF_STOP_TIMEOUT:-20} deadline
    deadline=$((SECONDS + secs))
    kill -TERM "$@" 2>/dev/null || true
    for pid in "$@"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            warn "Apache Kafka pid $pid still running $secs s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- N-node cluster
# kafka_ref_cluster_start N: N nodes (ids 1..N, every one a voter) in $WORK/kafka-N/, logs
# $WORK/kafka-N.log. Sets BOOTSTRAP (every node), KREF_PORT[i], KREF_PID[i]; the exit hook
# stops them. Internal topics and the default replication factor are min(N, 3).
KREF_PID=()
KREF_PORT=()
kafka_ref_cluster_start() {
    local n=$1 i voters="" cid rf=$(($1 < 3 ? $1 : 3)) cports=()
    for ((i = 1; i <= n; i++)); do
        KREF_PORT[i]="$(free_port)"
        cports[i]="$(free_port)"
        voters+="${voters:+,}$i@127.0.0.1:${cports[i]}"
    done
    cid="$(kafka_ref_cluster_id)" || fail "kafka-storage random-uuid failed"
    BOOTSTRAP=""
    # The formats run side by side (one JVM each, several seconds apiece on a busy machine).
    local formats=()
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$WORK/kafka-$i"
        kafka_ref_config "$WORK/kafka-$i.properties" "$i" "${KREF_PORT[i]}" "${cports[i]}" "$WORK/kafka-$i" "$voters" "$rf"
        kafka_ref_format "$WORK/kafka-$i.properties" "$cid" >>"$WORK/kafka-$i.log" 2>&1 &
        formats[i]=$!
        BOOTSTRAP+="${BOOTSTRAP:+,}127.0.0.1:${KREF_PORT[i]}"
    done
    for ((i = 1; i <= n; i++)); do
        wait "${formats[i]}" || fail "kafka-storage format of node $i failed (see $WORK/kafka-$i.log)"
    done
    on_exit kafka_ref_cluster_stop
    local from=()
    for ((i = 1; i <= n; i++)); do
        kafka_ref_launch "$WORK/kafka-$i.properties" "$WORK/kafka-$i.log"
        KREF_PID[i]=$KAFKA_REF_PID
        from[i]=$KAFKA_REF_LOG_FROM
    done
    for ((i = 1; i <= n; i++)); do
        kafka_ref_wait_ready "${KREF_PID[i]}" "$WORK/kafka-$i.log" "${from[i]}" "${KREF_PORT[i]}" \
            "${KAFKA_REF_START_TIMEOUT:-120}" || { tail -n 30 "$WORK/kafka-$i.log" >&2; fail "Apache Kafka node $i did not start"; }
    done
    export BOOTSTRAP
    log "Apache Kafka $KAFKA_VERSION cluster of $n nodes: $BOOTSTRAP (pids ${KREF_PID[*]})"
}

kafka_ref_cluster_stop() {
    local pids=() pid
    for pid in "${KREF_PID[@]}"; do [[ -n "$pid" ]] && pids+=("$pid"); done
    ((${#pids[@]} == 0)) || kafka_ref_stop "${pids[@]}"
    KREF_PID=()
}
