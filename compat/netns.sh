# shellcheck shell=bash
# Real network faults between the nodes of a test cluster, sourced after compat/cluster.sh:
#
#   source "$COMPAT_DIR/netns.sh"      # sets CLUSTER_NETNS=1
#   cluster_start                      # each node in its own network namespace
#
# Each node runs in a network namespace of its own (ip netns, Debian's iproute2), joined to a
# bridge in the test's namespace by a veth pair: node i is 10.213.S.i, the bridge (where the
# clients and delay proxies run) 10.213.S.254. Faults are nftables rules inside a node's
# namespace, so they hit exactly that node's traffic, and a heal removes them. (The kernel
# here has no sch_netem, so delay is a TCP relay, see net_delay.) Everything is created by
# this test on this machine only and removed on exit.
#
#   net_isolate I          drop every packet in or out of node I (clients' too)
#   net_cut_peers I        drop node I's Raft traffic only: clients still reach it (not with
#                          the delay relays)
#   net_loss PCT           every node drops PCT% of the packets it sends
#   net_delay MS           every Raft connection carries MS ms more one-way delay (needs
#                          NETNS_DELAY_PROXY=1 before cluster_start: the relays sit in the path
#                          from the start, since a rule can't move established connections)
#   net_heal [I]           remove node I's rules (default: every node's), delay back to 0
#
# Root is required (namespaces, nftables); scripts/install-test-deps installs nftables.

CLUSTER_NETNS=1
NETNS_DELAY_PROXY="${NETNS_DELAY_PROXY:-0}"
NETNS_TAG="kbf$$"
NETNS_SUBNET="10.213.$(($$ % 250 + 1))"
NETNS_SETUP=0
NETNS_PROXY_PID=""
NETNS_DELAY_FILE=""

netns_setup() {
    local n=$1 i br="${NETNS_TAG}br"
    ((EUID == 0)) || fail "network namespaces need root"
    command -v nft >/dev/null || fail "nft not installed (scripts/install-test-deps)"
    if ((NETNS_SETUP == 0)); then
        NETNS_SETUP=1
        on_exit netns_teardown
    fi
    ip link add "$br" type bridge
    ip addr add "$NETNS_SUBNET.254/24" dev "$br"
    ip link set "$br" up
    for ((i = 1; i <= n; i++)); do
        NODE_NS[i]="${NETNS_TAG}n$i"
        NODE_HOST[i]="$NETNS_SUBNET.$i"
        ip netns add "${NODE_NS[$i]}"
        ip link add "${NETNS_TAG}v$i" type veth peer name eth0 netns "${NODE_NS[$i]}"
        ip link set "${NETNS_TAG}v$i" master "$br" up
        ip -n "${NODE_NS[$i]}" addr add "${NODE_HOST[$i]}/24" dev eth0
        ip -n "${NODE_NS[$i]}" link set eth0 up
        ip -n "${NODE_NS[$i]}" link set lo up
    done
    ((NETNS_DELAY_PROXY)) && _netns_delay_proxies "$n"
    log "network namespaces ${NETNS_TAG}n1..$n on bridge $br ($NETNS_SUBNET.0/24)"
}

netns_teardown() {
    local i
    [[ -n "$NETNS_PROXY_PID" ]] && kill "$NETNS_PROXY_PID" 2>/dev/null && wait "$NETNS_PROXY_PID" 2>/dev/null
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ -n "${NODE_NS[$i]:-}" ]] && ip netns del "${NODE_NS[$i]}" 2>/dev/null
    done
    ip link del "${NETNS_TAG}br" 2>/dev/null
    return 0
}

# One relay per node in the test's namespace; in every node's namespace, connections to
# another node's Raft port are redirected (nat output) to that node's relay.
_netns_delay_proxies() {
    local n=$1 i j pports routes=()
    read -r -a pports <<<"$(free_ports "$n")"
    NETNS_DELAY_FILE="$WORK/delay_ms"
    echo 0 >"$NETNS_DELAY_FILE"
    for ((i = 1; i <= n; i++)); do
        routes+=("$NETNS_SUBNET.254:${pports[$((i - 1))]}=${NODE_HOST[$i]}:${NODE_RAFT[$i]}")
    done
    "$PYTHON" "$COMPAT_DIR/delay_proxy.py" "$NETNS_DELAY_FILE" "${routes[@]}" >"$WORK/delay_proxy.log" 2>&1 &
    NETNS_PROXY_PID=$!
    for ((i = 1; i <= n; i++)); do
        {
            echo "table ip kbdelay {"
            echo "  chain out { type nat hook output priority -100; policy accept;"
            for ((j = 1; j <= n; j++)); do
                ((i == j)) && continue
                echo "    ip daddr ${NODE_HOST[$j]} tcp dport ${NODE_RAFT[$j]} dnat to $NETNS_SUBNET.254:${pports[$((j - 1))]}"
            done
            echo "  }"
            echo "}"
        } | ip netns exec "${NODE_NS[$i]}" nft -f -
    done
    for ((i = 1; i <= n; i++)); do
        local deadline=$((SECONDS + 10))
        until port_open "${pports[$((i - 1))]}" "$NETNS_SUBNET.254"; do
            ((SECONDS < deadline)) || fail "delay relay did not start (log $WORK/delay_proxy.log)"
            sleep 0.1
        done
    done
}

# _net_rules I RULES...: (re)create node I's fault table with input and output chains
# holding RULES (each "in|out <nft rule>").
_net_rules() {
    local i=$1 r
    shift
    ip netns exec "${NODE_NS[$i]}" nft delete table inet kbfault 2>/dev/null || true
    {
        echo "table inet kbfault {"
        echo "  chain in { type filter hook input priority 0; policy accept;"
        for r in "$@"; do [[ "$r" == in\ * ]] && echo "    ${r#in }"; done
        echo "  }"
        echo "  chain out { type filter hook output priority 0; policy accept;"
        for r in "$@"; do [[ "$r" == out\ * ]] && echo "    ${r#out }"; done
        echo "  }"
        echo "}"
    } | ip netns exec "${NODE_NS[$i]}" nft -f - || fail "nft rules for node $i"
}

net_isolate() {
    _net_rules "$1" "in iifname eth0 drop" "out oifname eth0 drop"
    log "node $1 isolated (all traffic dropped)"
}

net_cut_peers() {
    local i=$1 j others=()
    for ((j = 1; j <= CLUSTER_NODES; j++)); do ((j == i)) || others+=("${NODE_RAFT[$j]}"); done
    local set
    set="{ $(IFS=,; echo "${others[*]}") }"
    # its own Raft port both ways, and its connections to the others' Raft ports (or relays)
    _net_rules "$i" "in tcp dport ${NODE_RAFT[$i]} drop" "out tcp sport ${NODE_RAFT[$i]} drop" \
        "in tcp sport $set drop" "out tcp dport $set drop"
    log "node $i cut from its peers (clients still reach it)"
}

net_loss() {
    local pct=$1 i
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
        _net_rules "$i" "out oifname eth0 numgen random mod 100 < $pct drop"
    done
    log "every node drops $pct% of the packets it sends"
}

net_delay() {
    [[ -n "$NETNS_DELAY_FILE" ]] || fail "net_delay needs NETNS_DELAY_PROXY=1 before cluster_start"
    echo "$1" >"$NETNS_DELAY_FILE.tmp" && mv "$NETNS_DELAY_FILE.tmp" "$NETNS_DELAY_FILE"
    log "Raft traffic delayed by $1 ms each way"
}

net_heal() {
    local i from=1 to=$CLUSTER_NODES
    [[ -n "${1:-}" ]] && from=$1 to=$1
    for ((i = from; i <= to; i++)); do
        ip netns exec "${NODE_NS[$i]}" nft delete table inet kbfault 2>/dev/null || true
    done
    [[ -n "$NETNS_DELAY_FILE" ]] && echo 0 >"$NETNS_DELAY_FILE"
    log "network healed${1:+ for node $1}"
}
