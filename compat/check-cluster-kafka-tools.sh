#!/usr/bin/env bash
# Apache Kafka's own admin tools (compat/kafka) against a 3-node cluster: kbroker's
# (compat/cluster.sh), or with COMPAT_TARGET=kafka Apache Kafka's (kafka_ref_cluster_start 3,
# auto.leader.rebalance.enable=false so that only the tools move leaders). Output parsed and
# compared, not just exit codes. Sections (CLUSTER_TOOLS_SECTIONS="log-dirs features" runs some):
#   topics           kafka-topics --create --replica-assignment 1:2,2:3,3:1 and --describe:
#                    replicas in the assigned order, ISR = replicas, the first one leads (within
#                    15 s). The other sections let any replica lead a new partition.
#   reassign         kafka-reassign-partitions --generate (the current assignment with each
#                    replica's log dir, a proposal over brokers 1,2,3), --execute of a move of
#                    partition 0 from [1,2] to [2,3] (its rollback JSON, "Successfully started"),
#                    --list until no reassignment is left, then --describe shows the new
#                    replicas and kafka-verifiable-consumer reads every record that
#                    kafka-verifiable-producer had acknowledged before the move
#   reassign-verify  --execute of a second move (partition 1: [2,3] -> [3,1]) and --verify until
#                    "Reassignment of partition ... is completed." (it then clears the
#                    replication throttles of brokers 1,2,3 and of the topic); --describe
#   leader-election  three partitions' replicas reordered (--execute) so that their leader
#                    comes last: not the first replica; kafka-leader-election --election-type PREFERRED
#                    --topic/--partition: "Successfully completed leader election (PREFERRED)
#                    for partitions T-0", the first replica leads; --all-topic-partitions: the
#                    other two among the partitions it elected, then every partition of every
#                    topic is led by its first replica; again on T-0: "Valid replica already
#                    elected for partitions T-0"
#   log-dirs         kafka-log-dirs --describe --broker-list 1,2,3 --topic-list T: one log dir
#                    per broker (its data dir, no error), each replica of T on its broker, the
#                    same size > 0 on every replica of a partition, offsetLag 0, not future
#   metadata-quorum  kafka-metadata-quorum describe --status and --replication: voters 1,2,3
#                    (check_metadata_quorum in kafka-tools-lib.sh)
#   features         kafka-features describe (check_features in kafka-tools-lib.sh)
#   api-versions     kafka-broker-api-versions through each node: all three brokers (id, address,
#                    not fenced), each with exactly the versions kcat sees from that broker
# Every tool run keeps its command line, stdout and stderr in $WORK/tools/NN-TOOL.*.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/cluster.sh
source "$COMPAT_DIR/cluster.sh"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"

SECTIONS=(topics reassign reassign-verify leader-election log-dirs metadata-quorum features api-versions)
# Sections kbroker does not pass yet (name -> what it answers differently); see run_sections.
declare -A KBROKER_PENDING=(
)

# Each node's Kafka port and data (log) dir.
declare -a PORT DIR
if [[ "$COMPAT_TARGET" == kafka ]]; then
    KAFKA_REF_EXTRA_CONFIG="auto.leader.rebalance.enable=false${KAFKA_REF_EXTRA_CONFIG:+$'\n'$KAFKA_REF_EXTRA_CONFIG}"
    kafka_ref_cluster_start 3
    for i in 1 2 3; do PORT[i]=${KREF_PORT[i]} DIR[i]="$WORK/kafka-$i"; done
else
    cluster_start 3
    for i in 1 2 3; do PORT[i]=${NODE_PORT[i]} DIR[i]="${NODE_DATA[i]}"; done
fi
BS=(--bootstrap-server "$BOOTSTRAP")

# placement [TOPIC]: kafka-topics --describe (of TOPIC, or of every topic) as PLACEMENT, lines
# "TOPIC-P LEADER REPLICAS ISR", sorted; the ISR ascending (brokers list it in any order).
placement() {
    kt topics "${BS[@]}" --describe ${1:+--topic "$1"}
    PLACEMENT="$(awk -F'\t' '$2 ~ /^Topic: / && $3 ~ /^Partition: / {
        sub(/^Topic: /, "", $2); sub(/^Partition: /, "", $3); sub(/^Leader: /, "", $4)
        sub(/^Replicas: /, "", $5); sub(/^Isr: /, "", $6)
        n = split($6, isr, ",")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && isr[j - 1] + 0 > isr[j] + 0; j--) { t = isr[j]; isr[j] = isr[j - 1]; isr[j - 1] = t }
        s = isr[1]; for (i = 2; i <= n; i++) s = s "," isr[i]
        print $2 "-" $3, $4, $5, s
    }' "$OUT" | LC_ALL=C sort)"
}

# wait_placement TOPIC WANT [SECONDS]: until placement TOPIC (lines joined by "; ") matches
# the glob WANT (e.g. "t-0 [23] 2,3 2,3; t-1 2 2,3 2,3"); bounded (default 30 s).
wait_placement() {
    local got deadline=$((SECONDS + ${3:-30}))
    while :; do
        placement "$1"
        got="$(paste -sd';' - <<<"$PLACEMENT" | sed 's/;/; /g')"
        # shellcheck disable=SC2053  # WANT is a glob
        [[ "$got" == $2 ]] && return 0
        ((SECONDS < deadline)) || kt_fail "kafka-topics --describe $1: expected '$2', got '$got'"
        sleep 1
    done
}

# produce_acked TOPIC N: kafka-verifiable-producer, N records with 16 repeating keys, acks=-1;
# all acknowledged (ktools.py); the ledger is $WORK/TOPIC.acked.json.
produce_acked() {
    kt verifiable-producer "${BS[@]}" --topic "$1" --max-messages "$2" --acks -1 --repeating-keys 16
    "$PYTHON" "$COMPAT_DIR/ktools.py" verifiable-producer "$OUT" "$2" "$WORK/$1.acked.json" >"$WORK/ktools.txt" \
        || kt_fail "kafka-verifiable-producer's events (above)"
    log "kafka-verifiable-producer $1: $(cat "$WORK/ktools.txt")"
}

# reassign_json FILE TOPIC P:B,B... : a reassignment JSON of partitions P to replicas B,B...
reassign_json() {
    local file=$1 topic=$2 spec parts=()
    shift 2
    for spec; do parts+=("{\"topic\":\"$topic\",\"partition\":${spec%%:*},\"replicas\":[${spec#*:}]}"); done
    (IFS=,; echo "{\"version\":1,\"partitions\":[${parts[*]}]}") >"$file"
}

# wait_no_reassignments: kafka-reassign-partitions --list until nothing is in progress (60 s).
wait_no_reassignments() {
    local deadline=$((SECONDS + 60))
    until kt reassign-partitions "${BS[@]}" --list && grep -qxF "No partition reassignments found." "$OUT"; do
        ((SECONDS < deadline)) || kt_fail "reassignments still in progress after 60 s"
        sleep 1
    done
}

# ------------------------------------------------------------------ sections
section_topics() {
    local t=tools-placed
    kt topics "${BS[@]}" --create --topic "$t" --replica-assignment 1:2,2:3,3:1
    expect_line "Created topic $t."
    wait_placement "$t" "$t-0 1 1,2 1,2; $t-1 2 2,3 2,3; $t-2 3 3,1 1,3" 15
    local header
    header="$(grep -m1 "^Topic: $t"$'\t' "$OUT")" || kt_fail "describe $t: no topic line"
    expect_eq "describe $t: PartitionCount" "$(kv PartitionCount "$header")" 3
    expect_eq "describe $t: ReplicationFactor" "$(kv ReplicationFactor "$header")" 2
}

REASSIGN_TOPIC=tools-reassign
section_reassign() {
    local t=$REASSIGN_TOPIC
    kt topics "${BS[@]}" --create --topic "$t" --replica-assignment 1:2,2:3,3:1
    wait_placement "$t" "$t-0 [12] 1,2 1,2; $t-1 [23] 2,3 2,3; $t-2 [13] 3,1 1,3"
    produce_acked "$t" 600

    echo "{\"topics\":[{\"topic\":\"$t\"}],\"version\":1}" >"$WORK/move-topics.json"
    kt reassign-partitions "${BS[@]}" --generate --topics-to-move-json-file "$WORK/move-topics.json" --broker-list 1,2,3
    "$PYTHON" "$COMPAT_DIR/ktools.py" reassign-plan "$OUT" >"$WORK/plan.txt" || kt_fail "--generate output not understood"
    # The current assignment, each replica with its broker's log dir.
    expect_eq "--generate: current assignment" "$(sed -n 's/^current //p' "$WORK/plan.txt" | paste -sd';' -)" \
        "$t-0 1,2 ${DIR[1]},${DIR[2]};$t-1 2,3 ${DIR[2]},${DIR[3]};$t-2 3,1 ${DIR[3]},${DIR[1]}"
    # The proposal: every partition on two distinct brokers of 1,2,3, log dirs "any".
    local p reps dirs n=0
    while read -r p reps dirs; do
        [[ "$reps" =~ ^[123],[123]$ && "${reps:0:1}" != "${reps:2:1}" ]] || kt_fail "--generate: proposed $p -> $reps"
        expect_eq "--generate: proposed log dirs of $p" "$dirs" "any,any"
        n=$((n + 1))
    done < <(sed -n 's/^proposed //p' "$WORK/plan.txt")
    expect_eq "--generate: proposed partitions" "$(sed -n 's/^proposed \([^ ]*\) .*/\1/p' "$WORK/plan.txt" | paste -sd' ' -)" \
        "$t-0 $t-1 $t-2"

    reassign_json "$WORK/reassign.json" "$t" 0:2,3
    kt reassign-partitions "${BS[@]}" --execute --reassignment-json-file "$WORK/reassign.json"
    expect_line "Successfully started partition reassignment for $t-0"
    "$PYTHON" "$COMPAT_DIR/ktools.py" reassign-plan "$OUT" >"$WORK/plan.txt" || kt_fail "--execute output not understood"
    expect_eq "--execute: rollback assignment" "$(sed -n 's/^current //p' "$WORK/plan.txt")" "$t-0 1,2 ${DIR[1]},${DIR[2]}"
    wait_no_reassignments
    wait_placement "$t" "$t-0 [23] 2,3 2,3; $t-1 [23] 2,3 2,3; $t-2 [13] 3,1 1,3"

    # Every acknowledged record is still there, partition 0 now read from broker 2 or 3.
    kt verifiable-consumer "${BS[@]}" --topic "$t" --group-id tools-reassign --max-messages 600 \
        --reset-policy earliest --verbose
    "$PYTHON" "$COMPAT_DIR/ktools.py" verifiable-consumer "$OUT" "$WORK/$t.acked.json" >"$WORK/ktools.txt" \
        || kt_fail "kafka-verifiable-consumer's events after the reassignment (above)"
    log "kafka-verifiable-consumer after the move: $(cat "$WORK/ktools.txt")"
    REASSIGNED=1
}

section_reassign_verify() {
    local t=$REASSIGN_TOPIC deadline=$((SECONDS + 60))
    [[ -n "${REASSIGNED:-}" ]] || section_reassign
    reassign_json "$WORK/reassign-2.json" "$t" 1:3,1
    kt reassign-partitions "${BS[@]}" --execute --reassignment-json-file "$WORK/reassign-2.json"
    expect_line "Successfully started partition reassignment for $t-1"
    until kt reassign-partitions "${BS[@]}" --verify --reassignment-json-file "$WORK/reassign-2.json" \
        && grep -qxF "Reassignment of partition $t-1 is completed." "$OUT"; do
        grep -qxF "Reassignment of partition $t-1 is still in progress." "$OUT" || kt_fail "--verify: neither completed nor in progress"
        ((SECONDS < deadline)) || kt_fail "--verify: not completed after 60 s"
        sleep 1
    done
    expect_line "Status of partition reassignment:"
    expect_line "Clearing broker-level throttles on brokers 1,2,3"
    expect_line "Clearing topic-level throttles on topic $t"
    wait_placement "$t" "$t-0 [23] 2,3 2,3; $t-1 [13] 3,1 1,3; $t-2 [13] 3,1 1,3"
}

# not_preferred LINES: the partitions ("TOPIC-P") of placement LINES not led by their
# first replica.
not_preferred() { awk '{ split($3, r, ","); if ($2 != r[1]) print $1 }' <<<"$1" | LC_ALL=C sort; }

# The partitions named by kafka-leader-election's "Successfully completed leader election
# (PREFERRED) for partitions a-0, b-1" lines, one a line, sorted.
elected() {
    sed -n 's/^Successfully completed leader election (PREFERRED) for partitions //p' "$OUT" \
        | tr ',' '\n' | tr -d ' ' | grep . | LC_ALL=C sort || true
}

section_leader_election() {
    local t=tools-elect rows missed p leader reps specs=() want
    kt topics "${BS[@]}" --create --topic "$t" --replica-assignment 1:2:3,2:3:1,3:1:2,1:3:2,2:1:3,3:2:1
    wait_placement "$t" "$t-0 [123] 1,2,3 1,2,3; $t-1 [123] 2,3,1 1,2,3; $t-2 [123] 3,1,2 1,2,3; $t-3 [123] 1,3,2 1,2,3; $t-4 [123] 2,1,3 1,2,3; $t-5 [123] 3,2,1 1,2,3"
    # Rotate the replicas of partitions 0..2 so that their leader comes last: the same brokers,
    # so no data moves and the leader stays, but it is no longer the first (preferred) replica.
    want="$PLACEMENT"
    for p in 0 1 2; do
        read -r leader reps <<<"$(awk -v p="$t-$p" '$1 == p {print $2, $3}' <<<"$PLACEMENT")"
        until [[ "$reps" == *",$leader" ]]; do reps="${reps#*,},${reps%%,*}"; done
        specs+=("$p:$reps")
        want="$(awk -v p="$t-$p" -v r="$reps" '$1 == p {$3 = r} {print}' <<<"$want")"
    done
    reassign_json "$WORK/reorder.json" "$t" "${specs[@]}"
    kt reassign-partitions "${BS[@]}" --execute --reassignment-json-file "$WORK/reorder.json"
    wait_no_reassignments
    wait_placement "$t" "$(paste -sd';' - <<<"$want" | sed 's/;/; /g')"

    kt leader-election "${BS[@]}" --election-type PREFERRED --topic "$t" --partition 0
    expect_eq "leader-election --topic $t --partition 0" "$(cat "$OUT")" \
        "Successfully completed leader election (PREFERRED) for partitions $t-0"
    want="$(awk -v p="$t-0" '$1 == p {split($3, r, ","); $2 = r[1]} {print}' <<<"$want")"
    wait_placement "$t" "$(paste -sd';' - <<<"$want" | sed 's/;/; /g')"

    placement
    rows=$PLACEMENT
    kt leader-election "${BS[@]}" --election-type PREFERRED --all-topic-partitions
    ! grep -v '^Successfully completed leader election (PREFERRED) for partitions ' "$OUT" | grep -q . \
        || kt_fail "--all-topic-partitions printed more than 'Successfully completed' lines"
    missed="$(LC_ALL=C comm -23 <(not_preferred "$rows") <(elected))"
    expect_eq "partitions not led by their first replica that --all-topic-partitions did not elect" "$missed" ""
    expect_eq "elected partitions that do not exist" "$(LC_ALL=C comm -13 <(awk '{print $1}' <<<"$rows") <(elected))" ""
    grep -qxF "$t-1" <(elected) && grep -qxF "$t-2" <(elected) || kt_fail "--all-topic-partitions did not elect $t-1 and $t-2"
    local deadline=$((SECONDS + 30))
    until placement && rows=$PLACEMENT && [[ -z "$(not_preferred "$rows")" ]]; do
        ((SECONDS < deadline)) || kt_fail "still not led by their first replica 30 s after the election: $(not_preferred "$rows" | paste -sd' ' -)"
        sleep 1
    done

    kt leader-election "${BS[@]}" --election-type PREFERRED --topic "$t" --partition 0
    expect_eq "leader-election of a partition led by its first replica" "$(cat "$OUT")" \
        "Valid replica already elected for partitions $t-0"
}

section_log_dirs() {
    local t=tools-logdirs rows want p n
    kt topics "${BS[@]}" --create --topic "$t" --replica-assignment 1:2,2:3,3:1
    wait_placement "$t" "$t-0 [12] 1,2 1,2; $t-1 [23] 2,3 2,3; $t-2 [13] 3,1 1,3"
    produce_acked "$t" 300
    kt get-offsets "${BS[@]}" --topic "$t"
    ! grep -q ':0$' "$OUT" || kt_fail "a partition of $t got no record"
    kt log-dirs "${BS[@]}" --describe --broker-list 1,2,3 --topic-list "$t"
    expect_line "Received log directory information from brokers 1,2,3"
    log_dirs_rows
    rows=$LOG_DIRS
    expect_eq "log dirs (broker, dir, error)" "$(grep '^dir ' <<<"$rows" | sort)" \
        "$(printf 'dir %s %s null\n' 1 "${DIR[1]}" 2 "${DIR[2]}" 3 "${DIR[3]}")"
    # broker:partition per replica, sorted, against the assignment.
    want="1:$t-0 1:$t-2 2:$t-0 2:$t-1 3:$t-1 3:$t-2"
    expect_eq "replicas in the log dirs" "$(awk '$1 == "part" {print $2 ":" $3}' <<<"$rows" | LC_ALL=C sort | paste -sd' ' -)" "$want"
    expect_eq "replicas with offsetLag != 0 or isFuture" "$(awk '$1 == "part" && ($5 != 0 || $6 != "false")' <<<"$rows")" ""
    for p in 0 1 2; do
        # Every replica of a partition holds the same batches, so the same bytes.
        n="$(awk -v p="$t-$p" '$1 == "part" && $3 == p {print $4}' <<<"$rows" | sort -u)"
        [[ "$n" =~ ^[1-9][0-9]*$ ]] || kt_fail "$t-$p: sizes of its replicas '$(paste -sd' ' - <<<"$n")', expected one size > 0"
    done
}

section_metadata_quorum() {
    check_metadata_quorum 1,2,3
}

section_features() {
    check_features
}

# api_versions_of ID: "KEY MIN MAX" of broker ID's block in the last kafka-broker-api-versions
# output ("\tName(KEY): MIN to MAX [usable: V]," or "\tName(KEY): V [usable: V],"), comma-joined.
api_versions_of() {
    awk -v id="$1" '/^[^\t]/ { cur = ($0 ~ "\\(id: " id " rack: ") } cur && /^\t/' "$OUT" \
        | sed -nE -e 's/^\t[A-Za-z]+\(([0-9]+)\): ([0-9]+) \[.*/\1 \2 \2/p' \
            -e 's/^\t[A-Za-z]+\(([0-9]+)\): ([0-9]+) to ([0-9]+) .*/\1 \2 \3/p' | sort -n | paste -sd, -
}

section_api_versions() {
    local i j kcat
    for i in 1 2 3; do
        kt broker-api-versions --bootstrap-server "127.0.0.1:${PORT[i]}"
        for j in 1 2 3; do
            grep -qxF "127.0.0.1:${PORT[j]} (id: $j rack: null isFenced: false) -> (" "$OUT" \
                || kt_fail "through node $i: no entry for broker $j at 127.0.0.1:${PORT[j]}"
        done
        expect_eq "through node $i: brokers listed" "$(grep -c ' (id: [0-9]* rack: ' "$OUT")" 3
        kcat="$(timeout 30 kcat -b "127.0.0.1:${PORT[i]}" -X debug=feature -L -m 10 2>&1 \
            | sed -nE 's/.*ApiKey ([^ ]+) \(([0-9]+)\) Versions ([0-9]+)\.\.([0-9]+).*/\2 \3 \4/p' | sort -n -u | paste -sd, -)"
        [[ -n "$kcat" ]] || fail "kcat saw no ApiVersions from node $i"
        expect_eq "broker $i: broker-api-versions vs kcat's ApiVersions (key min max)" "$(api_versions_of "$i")" "$kcat"
        for j in 2 3; do
            expect_eq "through node $i: broker $j's versions vs broker 1's" "$(api_versions_of "$j")" "$(api_versions_of 1)"
        done
    done
}

run_sections "${CLUSTER_TOOLS_SECTIONS:-}"
