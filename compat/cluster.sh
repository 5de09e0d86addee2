# shellcheck shell=bash
# Helpers for the cluster checks (compat/check-cluster-*.sh), sourced AFTER compat/lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/cluster.sh"
#   cluster_start            # 3 nodes (CLUSTER_NODES), fresh data dirs in $WORK, free loopback ports
#
# After cluster_start: BOOTSTRAP (all nodes' Kafka addresses, comma separated), PEERS (the
# --peers value), and per node i (1-based) NODE_PID[i], NODE_PORT[i] (Kafka), NODE_RAFT[i],
# NODE_MPORT[i] (metrics), NODE_DATA[i], NODE_LOG[i], NODE_STATE[i] (up|paused|down).
#
# Node control, all by the PIDs this script started:
#   node_kill9 I       SIGKILL and reap
#   node_pause I       SIGSTOP          node_resume I   SIGCONT
#                      (both set NODE_SIGNAL_MS: epoch ms taken right after the signal was sent,
#                      so a record whose send began at or after it cannot have reached the node)
#   node_stop I        SIGTERM, SIGKILL after 15 s
#   node_restart I     (stops it if running) starts it again on the same ports and data dir
#   node_bootstrap I   HOST:PORT of node I
#   node_define I KAFKA RAFT METRICS   a node's ports, data dir and log (to start nodes one by one)
#   live_bootstrap     Kafka addresses of the nodes that are up (not paused, not down)
# Lookups:
#   leader_of TOPIC PART [SECONDS]  the partition's leader, by the nodes' own Raft view:
#                    among the nodes that are up, the one that reports itself leader in the
#                    highest term (per-partition /metrics: broker_raft_leader/broker_raft_term);
#                    waits (default 30 s) until there is one; prints the node id
#   meta_leader_of TOPIC PART       the leader from Metadata (kcat -L via the live nodes)
#   node_metric I NAME TOPIC PART   a per-partition gauge of node I (empty if none)
#   wait_caught_up I TOPIC PART END [SECONDS]   until node I's high watermark of the
#                    partition is END (its replica has everything up to END applied)
#   cluster_stop       stop all nodes (cluster_start again gives a fresh cluster)
#   show_output FILE   a Java program's output without the client's log lines (counted)
#   cluster_tool ARGS...  java ClusterTool (create/describe/leader/wait-leader/coordinator)
#   track_pid PID      a client process to kill (before the nodes are stopped) on exit;
#                      untrack_pid PID once it has been waited for
#   wait_acks FILE N SECONDS [PID]   until a ClusterProducer ack file has N lines
#   acks_after FILE MS               acked records whose send began at/after MS (epoch ms)
#   make_leader I TOPIC PART WRITE   move the leadership to node I (see the function)
#
# On exit (EXIT hook): tracked clients are killed, paused nodes get SIGCONT, every node is
# stopped (SIGTERM, SIGKILL after 15 s); if the check failed, each node's log tail is printed
# (LOG_TAIL_LINES, default 40) and $WORK is kept.
#
# Env: CLUSTER_NODES (3), CLUSTER_EXTRA_ARGS (appended to every node's command line, after
# BROKER_EXTRA_ARGS), CLUSTER_START_TIMEOUT (60 s for all Kafka ports to accept),
# CLUSTER_NETNS=1: every node in its own network namespace (compat/netns.sh: NODE_HOST[i] is
# then its address on a bridge, NODE_NS[i] its namespace, and network faults can be injected).

CLUSTER_NODES="${CLUSTER_NODES:-3}"
CLUSTER_START_TIMEOUT="${CLUSTER_START_TIMEOUT:-60}"
CLUSTER_NETNS="${CLUSTER_NETNS:-0}"
declare -a NODE_DATA_DIR # optional, set before cluster_start: node i's data dir (e.g. a small mount)
declare -a NODE_PID NODE_PORT NODE_RAFT NODE_MPORT NODE_DATA NODE_LOG NODE_STATE NODE_HOST NODE_NS
CLUSTER_CLIENT_PIDS=()
CLUSTER_STARTED=0
# shellcheck disable=SC2034  # read by the checks (see node_kill9 / node_pause)
NODE_SIGNAL_MS=0

# N distinct free loopback ports (all held open at once while choosing, so no duplicates).
free_ports() {
    "$PYTHON" -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

node_alive() { [[ -n "${NODE_PID[$1]:-}" ]] && kill -0 "${NODE_PID[$1]}" 2>/dev/null; }
node_bootstrap() { echo "${NODE_HOST[$1]}:${NODE_PORT[$1]}"; }

live_bootstrap() {
    local i out=()
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ "${NODE_STATE[$i]}" == up ]] && out+=("${NODE_HOST[$i]}:${NODE_PORT[$i]}")
    done
    (IFS=,; echo "${out[*]}")
}

track_pid() { CLUSTER_CLIENT_PIDS+=("$1"); }
# After `wait PID`: forget it (the number may be reused by an unrelated process).
untrack_pid() {
    local p keep=()
    for p in "${CLUSTER_CLIENT_PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    CLUSTER_CLIENT_PIDS=("${keep[@]}")
}

_node_launch() {
    local i=$1
    [[ -x "$BROKER_BIN" ]] || fail "broker binary not found: $BROKER_BIN"
    echo "==== start $(date +%T.%3N) node $i kafka=${NODE_PORT[$i]} raft=${NODE_RAFT[$i]}" >>"${NODE_LOG[$i]}"
    local in_ns=()
    [[ -n "${NODE_NS[$i]:-}" ]] && in_ns=(ip netns exec "${NODE_NS[$i]}")
    # shellcheck disable=SC2086  # the extra args are intentionally word-split
    NO_COLOR=1 "${in_ns[@]}" "$BROKER_BIN" \
        --node-id "$i" \
        --listen "${NODE_HOST[$i]}:${NODE_PORT[$i]}" \
        --advertised-listener "${NODE_HOST[$i]}:${NODE_PORT[$i]}" \
        --data-dir "${NODE_DATA[$i]}" \
        --metrics-listen "${NODE_HOST[$i]}:${NODE_MPORT[$i]}" \
        --metrics-per-partition true \
        --peers "$PEERS" \
        ${BROKER_EXTRA_ARGS:-} ${CLUSTER_EXTRA_ARGS:-} \
        >>"${NODE_LOG[$i]}" 2>&1 &
    NODE_PID[i]=$!
    NODE_STATE[i]=up
}

_node_wait_port() {
    local i=$1 deadline=$((SECONDS + ${2:-$CLUSTER_START_TIMEOUT}))
    until port_open "${NODE_PORT[$i]}" "${NODE_HOST[$i]}"; do
        node_alive "$i" || { tail -n 20 "${NODE_LOG[$i]}" >&2; fail "node $i exited during startup (log ${NODE_LOG[$i]})"; }
        ((SECONDS < deadline)) || fail "node $i did not accept on port ${NODE_PORT[$i]} in time"
        sleep 0.1
    done
}

node_ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://${NODE_HOST[$1]}:${NODE_MPORT[$1]}/ready" 2>/dev/null)" == 200 ]]
}

# Until node I answers /ready with 200 (every partition it hosts has a leader) and, with
# ALL=1, its Metadata lists every node of the cluster.
_node_wait_ready() {
    local i=$1 all=${2:-0} deadline=$((SECONDS + CLUSTER_START_TIMEOUT)) brokers=""
    while :; do
        if node_ready "$i"; then
            ((all)) || return 0
            brokers="$(timeout 10 kcat -b "$(node_bootstrap "$i")" -L -m 5 2>/dev/null \
                | sed -nE 's/^ *([0-9]+) brokers:.*/\1/p' | awk 'NR == 1' || true)"
            [[ "$brokers" == "$CLUSTER_NODES" ]] && return 0
        fi
        node_alive "$i" || fail "node $i exited (log ${NODE_LOG[$i]})"
        ((SECONDS < deadline)) \
            || fail "node $i not ready (/ready 200 and $CLUSTER_NODES brokers in Metadata) in time: Metadata lists ${brokers:-?} brokers"
        sleep 0.2
    done
}

# Node I's ports (Kafka, Raft, metrics), data dir and log, on loopback; for checks that start
# nodes one by one (cluster_start calls it for every node; netns_setup may move NODE_HOST).
node_define() {
    local i=$1
    NODE_PORT[i]=$2 NODE_RAFT[i]=$3 NODE_MPORT[i]=$4
    NODE_DATA[i]="${NODE_DATA_DIR[$i]:-$WORK/node-$i}"
    NODE_LOG[i]="$WORK/node-$i.log"
    NODE_HOST[i]=127.0.0.1
    NODE_NS[i]=""
}

cluster_start() {
    local n="${1:-$CLUSTER_NODES}" i ports
    CLUSTER_NODES=$n
    require_kbroker "a kbroker cluster (Raft leaders from its /metrics); kafka_ref_cluster_start runs Apache Kafka's"
    "$BROKER_BIN" --help 2>/dev/null | grep -q -- '--peers' \
        || fail "$BROKER_BIN has no --peers option (no cluster mode in this build)"
    read -r -a ports <<<"$(free_ports $((3 * n)))"
    PEERS=""
    for ((i = 1; i <= n; i++)); do
        node_define "$i" "${ports[@]:$((3 * (i - 1))):3}"
        if [[ -n "${NODE_DATA_DIR[$i]:-}" ]]; then # maybe a mount point: empty it, keep it
            mkdir -p "${NODE_DATA[$i]}"
            find "${NODE_DATA[$i]}" -mindepth 1 -delete
        else
            rm -rf "${NODE_DATA[$i]}"
            mkdir -p "${NODE_DATA[$i]}"
        fi
    done
    if ((CLUSTER_STARTED == 0)); then
        CLUSTER_STARTED=1
        on_exit _cluster_exit
    fi
    # after _cluster_exit's hook, so the namespaces go once the nodes have stopped
    ((CLUSTER_NETNS)) && netns_setup "$n"
    for ((i = 1; i <= n; i++)); do
        PEERS+="${PEERS:+,}$i@${NODE_HOST[$i]}:${NODE_PORT[$i]}/${NODE_HOST[$i]}:${NODE_RAFT[$i]}"
    done
    BOOTSTRAP="$(for ((i = 1; i <= n; i++)); do node_bootstrap "$i"; done | paste -sd,)"
    export BOOTSTRAP PEERS
    for ((i = 1; i <= n; i++)); do _node_launch "$i"; done
    for ((i = 1; i <= n; i++)); do _node_wait_port "$i"; done
    for ((i = 1; i <= n; i++)); do _node_wait_ready "$i" 1; done
    log "cluster of $n nodes up: bootstrap $BOOTSTRAP (pids ${NODE_PID[*]}; binary $BROKER_BIN)"
}

# Reap node I once it has exited (it is our child); bounded.
_node_reap() {
    local i=$1 deadline=$((SECONDS + ${2:-15})) rc=0
    while node_alive "$i"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
    wait "${NODE_PID[$i]}" 2>/dev/null || rc=$?
    echo "==== exited $(date +%T.%3N) status=$rc" >>"${NODE_LOG[$i]}"
    NODE_PID[i]=""
    NODE_STATE[i]=down
    return 0
}

node_kill9() {
    local i=$1
    node_alive "$i" || fail "node_kill9 $i: node is not running"
    kill -KILL "${NODE_PID[$i]}"
    # shellcheck disable=SC2034  # read by the checks
    NODE_SIGNAL_MS=$(date +%s%3N)
    echo "==== SIGKILL $(date +%T.%3N)" >>"${NODE_LOG[$i]}"
    _node_reap "$i" 15 || fail "node $i (pid ${NODE_PID[$i]}) survived SIGKILL?"
    log "node $i SIGKILLed"
}

node_pause() {
    local i=$1
    node_alive "$i" || fail "node_pause $i: node is not running"
    kill -STOP "${NODE_PID[$i]}"
    # shellcheck disable=SC2034  # read by the checks
    NODE_SIGNAL_MS=$(date +%s%3N)
    NODE_STATE[i]=paused
    echo "==== SIGSTOP $(date +%T.%3N)" >>"${NODE_LOG[$i]}"
    log "node $i paused (SIGSTOP)"
}

node_resume() {
    local i=$1
    node_alive "$i" || fail "node_resume $i: node is not running"
    kill -CONT "${NODE_PID[$i]}"
    NODE_STATE[i]=up
    echo "==== SIGCONT $(date +%T.%3N)" >>"${NODE_LOG[$i]}"
    log "node $i resumed (SIGCONT)"
}

node_stop() {
    local i=$1
    node_alive "$i" || { NODE_PID[i]=""; NODE_STATE[i]=down; return 0; }
    [[ "${NODE_STATE[$i]}" == paused ]] && kill -CONT "${NODE_PID[$i]}" 2>/dev/null
    kill -TERM "${NODE_PID[$i]}" 2>/dev/null || true
    if ! _node_reap "$i" 15; then
        warn "node $i did not exit 15s after SIGTERM; sending SIGKILL"
        kill -KILL "${NODE_PID[$i]}" 2>/dev/null || true
        _node_reap "$i" 15 || true
    fi
}

node_restart() {
    local i=$1
    node_alive "$i" && node_stop "$i"
    _node_launch "$i"
    _node_wait_port "$i"
    _node_wait_ready "$i"
    log "node $i restarted (pid ${NODE_PID[$i]}, same ports and data dir)"
}

# SIGTERM a process and its descendants, children first (a backgrounded `java_run` is a
# subshell running `timeout`, which runs java), each by PID.
_kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do _kill_tree "$child"; done
    kill -TERM "$1" 2>/dev/null || true
}

_cluster_exit() {
    # runs inside lib.sh's _compat_exit, whose local $rc is the check's exit status
    local status="${rc:-0}" i pid pids=()
    for pid in "${CLUSTER_CLIENT_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        _kill_tree "$pid"
        pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        node_alive "$i" || continue
        [[ "${NODE_STATE[$i]}" == paused ]] && kill -CONT "${NODE_PID[$i]}" 2>/dev/null
        kill -TERM "${NODE_PID[$i]}" 2>/dev/null
    done
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        node_alive "$i" || continue
        if ! _node_reap "$i" 15; then
            warn "node $i did not exit within 15 s of SIGTERM (all nodes stopped at once); SIGKILL (log ${NODE_LOG[$i]})"
            # shellcheck disable=SC2034  # read by lib.sh's exit trap
            KEEP_WORK=1
            kill -KILL "${NODE_PID[$i]}" 2>/dev/null
            _node_reap "$i" 15
        fi
    done
    if ((status != 0)); then
        for ((i = 1; i <= CLUSTER_NODES; i++)); do
            [[ -s "${NODE_LOG[$i]:-}" ]] || continue
            echo "----- node $i log tail (${NODE_LOG[$i]}) -----" >&2
            tail -n "${LOG_TAIL_LINES:-40}" "${NODE_LOG[$i]}" >&2
        done
        echo "----- end of node logs -----" >&2
    fi
}

cluster_tool() {
    java_run 120 ClusterTool "$@"
}

# A per-partition gauge from node I's /metrics (empty when absent or the node doesn't answer).
node_metric() {
    local i=$1 name=$2 topic=$3 part=$4
    curl -s --max-time 2 "http://${NODE_HOST[$i]}:${NODE_MPORT[$i]}/metrics" 2>/dev/null \
        | awk -v n="$name" -v t="topic=\"$topic\"" -v p="partition=\"$part\"" '
            !done && index($0, n "{") == 1 && index($0, t) && index($0, p) { print $NF; done = 1 }' \
        || true # (no early exit in awk: curl must not see a closed pipe, which pipefail turns into an error)
}

# The leader by the nodes' own Raft view (see header). Prints the node id.
leader_of() {
    local topic=$1 part=$2 deadline=$((SECONDS + ${3:-30})) i best best_term term
    while :; do
        best="" best_term=-1
        for ((i = 1; i <= CLUSTER_NODES; i++)); do
            [[ "${NODE_STATE[$i]}" == up ]] || continue
            [[ "$(node_metric "$i" broker_raft_leader "$topic" "$part")" == 1 ]] || continue
            term="$(node_metric "$i" broker_raft_term "$topic" "$part")"
            term="${term%%.*}"
            if [[ -n "$term" ]] && ((term > best_term)); then
                best=$i best_term=$term
            fi
        done
        if [[ -n "$best" ]]; then
            echo "$best"
            return 0
        fi
        ((SECONDS < deadline)) || fail "no node reports itself leader of $topic-$part"
        sleep 0.1
    done
}

# The leader from Metadata (kcat -L against the live nodes); -1 if none.
meta_leader_of() {
    local topic=$1 part=$2
    timeout 15 kcat -b "$(live_bootstrap)" -L -t "$topic" -m 5 2>/dev/null \
        | sed -nE "s/^ *partition $part, leader (-?[0-9]+),.*/\1/p" | awk "NR == 1" || true
}

# Until node I's high watermark of TOPIC-PART is END (bounded; fails with the values seen).
wait_caught_up() {
    local i=$1 topic=$2 part=$3 end=$4 deadline=$((SECONDS + ${5:-60})) hw=""
    while :; do
        hw="$(node_metric "$i" broker_partition_high_watermark "$topic" "$part")"
        hw="${hw%%.*}"
        [[ "$hw" == "$end" ]] && return 0
        ((SECONDS < deadline)) \
            || fail "node $i: high watermark of $topic-$part is '${hw}' after ${5:-60}s, expected $end (applied index $(node_metric "$i" broker_raft_applied_index "$topic" "$part"))"
        sleep 0.2
    done
}

# wait_acks FILE N SECONDS [PID]: until FILE (a ClusterProducer ack file) has N lines; fails
# after SECONDS or if the producer PID has exited.
wait_acks() {
    local file=$1 n=$2 deadline=$((SECONDS + $3)) pid=${4:-} have=0
    while :; do
        have=0
        [[ -e "$file" ]] && have=$(wc -l <"$file")
        ((have >= n)) && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            fail "producer exited with only $have of $n acks in $file"
        fi
        ((SECONDS < deadline)) || fail "only $have of $n acks in $file after $3 s"
        sleep 0.1
    done
}

# producer_start TOPIC PART ACKS RATE SECONDS: java/ClusterProducer in the background
# (idempotent, acks=all, retries unbounded, delivery.timeout.ms=120 s, RATE records/s, every
# ack logged to ACKS) until producer_stop or SECONDS; output in $WORK/producer.out, shown on
# failure; $PRODUCER_ARGS (e.g. "size=16384") are added to its options. Sets PRODUCER_PID.
producer_start() {
    local topic=$1 part=$2 acks=$3 rate=$4 seconds=$5
    log "producing to $topic-$part at $rate records/s"
    # shellcheck disable=SC2086  # PRODUCER_ARGS: several options
    java_run $((seconds + 90)) ClusterProducer "$BOOTSTRAP" "$topic" "$part" "$acks" rate="$rate" \
        seconds="$seconds" stop_file="$WORK/stop" delivery_timeout_ms=120000 errors=none ${PRODUCER_ARGS:-} \
        >"$WORK/producer.out" 2>&1 &
    PRODUCER_PID=$!
    track_pid "$PRODUCER_PID"
    on_exit '[[ ${rc:-0} == 0 ]] || { echo "----- producer output -----" >&2; tail -n 40 "$WORK/producer.out" >&2; }'
}

# producer_stop: the producer started by producer_start finishes what it sent; fails if any
# record failed.
producer_stop() {
    local prod_rc=0
    touch "$WORK/stop"
    wait "$PRODUCER_PID" || prod_rc=$?
    untrack_pid "$PRODUCER_PID"
    show_output "$WORK/producer.out"
    ((prod_rc == 0)) || fail "producer failed (exit $prod_rc)"
}

# acks_after FILE MS: acknowledged records (ack file lines) whose send began at or after MS.
acks_after() {
    awk -v t="$2" '$4 >= t { n++ } END { print n + 0 }' "$1"
}

# make_leader I TOPIC PART WRITE_CMD: move the partition's leadership to node I (3 nodes; I a
# caught-up follower). Just pausing the leader is not enough: openraft 0.9 draws each Raft
# group's election timeout once, when the node starts, so between two followers the same one
# keeps winning. Instead: SIGKILL the other follower O, run WRITE_CMD (must get >= 1 record
# committed to the partition, by the leader and I), pause the leader, restart O. O's log is
# now behind I's, so I won't vote for O and only I can be elected (O votes for it); then the
# leader is resumed. (O is killed, not paused: a paused node still finds the leader's
# AppendEntries in its socket buffer when it resumes, and would catch up at once.)
# Returns 1 if another node ends up leading.
make_leader() {
    local target=$1 topic=$2 part=$3 write=$4 cur other="" i new
    ((CLUSTER_NODES == 3)) || fail "make_leader needs 3 nodes"
    cur="$(leader_of "$topic" "$part" 30)"
    [[ "$cur" == "$target" ]] && { log "node $target leads $topic-$part"; return 0; }
    for ((i = 1; i <= CLUSTER_NODES; i++)); do ((i == target || i == cur)) || other=$i; done
    log "moving the leadership of $topic-$part from node $cur to node $target: SIGKILL node $other, write, pause node $cur, restart node $other"
    node_kill9 "$other"
    eval "$write" || fail "make_leader: the write with node $other down failed ($write)"
    node_pause "$cur"
    node_restart "$other"
    new="$(leader_of "$topic" "$part" 30)" || { node_resume "$cur"; fail "no leader of $topic-$part elected"; }
    node_resume "$cur"
    log "node $new elected leader of $topic-$part"
    sleep 1 # the resumed old leader learns the new term
    [[ "$(leader_of "$topic" "$part" 30)" == "$target" ]]
}

# Stop every node (SIGCONT first if paused; SIGTERM, SIGKILL after 15 s). Logs stay in $WORK.
cluster_stop() {
    local i
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        node_alive "$i" || continue
        [[ "${NODE_STATE[$i]}" == paused ]] && kill -CONT "${NODE_PID[$i]}" 2>/dev/null
        kill -TERM "${NODE_PID[$i]}" 2>/dev/null || true
    done
    for ((i = 1; i <= CLUSTER_NODES; i++)); do node_stop "$i"; done
    log "cluster stopped"
}

# show_output FILE: a Java client program's output without the Kafka client's own WARN/INFO
# log lines (kept in FILE), plus how many there were and the first few.
show_output() {
    local n
    grep -vE '^[0-9:.]+ (WARN|INFO|ERROR) +\[' "$1" | grep -vE '^\s+at |^org\.apache' || true
    n=$(grep -cE '^[0-9:.]+ (WARN|INFO|ERROR) +\[' "$1" || true)
    if ((n > 0)); then
        echo "($n Kafka client log lines in $1; the first 5:)"
        grep -E '^[0-9:.]+ (WARN|INFO|ERROR) +\[' "$1" | head -n 5 | cut -c1-300  || true
    fi
}
