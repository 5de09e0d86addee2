#!/usr/bin/env bash
# Apache Kafka's own command-line tools (compat/kafka: the pinned release's bin/kafka-*.sh
# classes) against one broker; their output is parsed and compared, not just their exit codes.
# Sections (each with its own topics; KAFKA_TOOLS_SECTIONS="topics groups" runs only some):
#   topics         kafka-topics: create with --config and with --replica-assignment, duplicate
#                  create, --if-not-exists, list, describe, alter --partitions (and a decrease),
#                  delete
#   configs-topic  kafka-configs on a topic: describe, --add-config, --delete-config, --all
#   configs-broker kafka-configs on broker 1 (--all) and on the cluster defaults
#                  (--entity-default): describe, --add-config, --delete-config
#   configs-broker-id  kafka-configs --add-config / --delete-config on broker 1 alone
#   console        kafka-console-producer (keys, headers) and kafka-console-consumer
#                  (--from-beginning, --partition/--offset, --max-messages): exact output
#   groups         console consumer with --group; kafka-consumer-groups --list, --describe
#                  (offsets, lag, --state), --reset-offsets --to-earliest / --shift-by /
#                  --to-datetime (dry run and --execute), a consumer resuming at the reset
#                  offset, --delete-offsets, --delete (twice: GroupIdNotFoundException)
#   groups-unknown kafka-consumer-groups --describe of an unknown group
#   offsets        kafka-get-offsets (latest, earliest, a timestamp, max-timestamp) and
#                  kafka-delete-records, then a read from the new log start
#   api-versions   kafka-broker-api-versions: the same versions kcat sees
#   cluster-id     kafka-cluster cluster-id: the cluster id of the Metadata response
#   log-dirs, features, metadata-quorum, leader-election: the admin tools of
#                  check-cluster-kafka-tools.sh on this one node (see their functions below)
# Every tool run keeps its command line, stdout and stderr in $WORK/tools/NN-TOOL.*.
# The tools run with JVM options for short-lived JVMs (C1 only, serial GC: a third less CPU
# per run than kafka-run-class.sh's G1 and full JIT; same classes, classpath and arguments);
# KAFKA_TOOLS_JVM_OPTS replaces them (it becomes KAFKA_JVM_PERFORMANCE_OPTS of each tool).
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=compat/kafka-tools-lib.sh
source "$COMPAT_DIR/kafka-tools-lib.sh"

SECTIONS=(topics configs-topic configs-broker configs-broker-id console groups groups-unknown offsets
          api-versions cluster-id log-dirs features metadata-quorum leader-election)
# Sections kbroker does not pass yet, with what it answers differently: skipped (with a
# warning) against kbroker unless KAFKA_TOOLS_PENDING=1; always run against Apache Kafka.
declare -A KBROKER_PENDING=(
)

start_broker
BS=(--bootstrap-server "$BOOTSTRAP")

# cfg NAME: "VALUE SOURCE" of NAME in kafka-configs --describe output, SOURCE being the
# first synonym's (e.g. DYNAMIC_TOPIC_CONFIG); empty if NAME is not listed.
cfg() {
    sed -nE "s/^  $1=(.*) sensitive=(true|false) synonyms=\{([A-Z_]*).*/\1 \3/p" "$OUT" | head -n 1
}

# produce TOPIC FILE: kafka-console-producer with "headers<TAB>key<TAB>value" lines.
produce() {
    KT_IN="$2" kt console-producer "${BS[@]}" --topic "$1" \
        --reader-property parse.key=true --reader-property key.separator=$'\t' \
        --reader-property parse.headers=true --reader-property headers.delimiter=$'\t'
}

# consume ARGS...: kafka-console-consumer printing "Partition:P<TAB>Offset:O<TAB>headers
# <TAB>key<TAB>value"; CONSUMED is its output sorted by partition and offset.
consume() {
    kt console-consumer "${BS[@]}" --timeout-ms 30000 \
        --formatter-property print.partition=true --formatter-property print.offset=true \
        --formatter-property print.headers=true --formatter-property print.key=true \
        --formatter-property key.separator=$'\t' "$@"
    CONSUMED="$(LC_ALL=C sort -t $'\t' -k1,1 -k2.8,2n "$OUT")"
}

# The console records: seq 0..9 with key k(seq % 4) and headers src and seq. The default
# partitioner (murmur2 of the key, in the producer) puts k3 on partition 0 and k0, k1, k2 on
# partition 1 of a 2-partition topic, whatever the broker.
RECORDS="$WORK/records.txt"
for i in 0 1 2 3 4 5 6 7 8 9; do
    printf 'src:tools,seq:%d\tk%d\tvalue-%d\n' "$i" $((i % 4)) "$i"
done >"$RECORDS"
EXPECTED_CONSUMED="$(
    p0=0 p1=0
    for i in 3 7; do printf 'Partition:0\tOffset:%d\tsrc:tools,seq:%d\tk3\tvalue-%d\n' $((p0++)) "$i" "$i"; done
    for i in 0 1 2 4 5 6 8 9; do printf 'Partition:1\tOffset:%d\tsrc:tools,seq:%d\tk%d\tvalue-%d\n' $((p1++)) "$i" $((i % 4)) "$i"; done
)"

# produce_around_t TOPIC: 5 records (seq 0..4), then T_MS (epoch ms) and T_ISO (the same
# time for --to-datetime), then 5 more (seq 5..9): on one partition, the first record
# at or after T is offset 5.
produce_around_t() {
    head -n 5 "$RECORDS" >"$WORK/first.txt"
    tail -n 5 "$RECORDS" >"$WORK/second.txt"
    produce "$1" "$WORK/first.txt"
    sleep 0.2
    T_MS="$(date +%s%3N)"
    T_ISO="$(date -u -d "@$((T_MS / 1000)).$(printf %03d $((T_MS % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ)"
    sleep 0.2
    produce "$1" "$WORK/second.txt"
}

# ------------------------------------------------------------------ sections
# assert_describe TOPIC PARTITIONS [CONFIG=VALUE...]: kafka-topics --describe shows TOPIC with
# replication factor 1, PARTITIONS partitions 0.. each led by broker 1 with replicas and ISR
# [1], and every CONFIG=VALUE among its configs.
assert_describe() {
    local topic=$1 n=$2 header line p=0 c
    shift 2
    kt topics "${BS[@]}" --describe --topic "$topic"
    header="$(grep -m1 "^Topic: $topic"$'\t' "$OUT")" || kt_fail "describe $topic: no topic line"
    expect_eq "describe $topic: PartitionCount" "$(kv PartitionCount "$header")" "$n"
    expect_eq "describe $topic: ReplicationFactor" "$(kv ReplicationFactor "$header")" 1
    for c; do
        [[ ",$(kv Configs "$header")," == *",$c,"* ]] || kt_fail "describe $topic: no $c among the Configs"
    done
    while IFS= read -r line; do
        expect_eq "describe $topic: partition" "$(kv Partition "$line")" "$p"
        expect_eq "describe $topic $p: Leader" "$(kv Leader "$line")" 1
        expect_eq "describe $topic $p: Replicas" "$(kv Replicas "$line")" 1
        expect_eq "describe $topic $p: Isr" "$(kv Isr "$line")" 1
        p=$((p + 1))
    done < <(grep $'^\tTopic: '"$topic"$'\t' "$OUT")
    expect_eq "describe $topic: partition lines" "$p" "$n"
}

section_topics() {
    kt topics "${BS[@]}" --create --topic tools-cfg --partitions 3 --replication-factor 1 \
        --config retention.ms=86400000 --config max.message.bytes=300000
    expect_line "Created topic tools-cfg."
    kt topics "${BS[@]}" --create --topic tools-assign --replica-assignment 1,1
    expect_line "Created topic tools-assign."
    ! kt_try topics "${BS[@]}" --create --topic tools-cfg --partitions 1 || kt_fail "a second create succeeded"
    grep -q "Topic 'tools-cfg' already exists" "$OUT" || kt_fail "duplicate create: no 'already exists'"
    kt topics "${BS[@]}" --create --topic tools-cfg --partitions 1 --if-not-exists
    [[ ! -s "$OUT" ]] || kt_fail "--if-not-exists on an existing topic printed something"

    kt topics "${BS[@]}" --list
    expect_line tools-cfg
    expect_line tools-assign
    kt topics "${BS[@]}" --list --exclude-internal
    ! grep -q '^__' "$OUT" || kt_fail "--exclude-internal listed an internal topic"
    assert_describe tools-cfg 3 retention.ms=86400000 max.message.bytes=300000
    assert_describe tools-assign 2

    kt topics "${BS[@]}" --alter --topic tools-cfg --partitions 5
    assert_describe tools-cfg 5 retention.ms=86400000
    ! kt_try topics "${BS[@]}" --alter --topic tools-cfg --partitions 4 || kt_fail "decreasing partitions succeeded"
    grep -q 'InvalidPartitionsException' "$KT_ERR" || kt_fail "decrease: no InvalidPartitionsException"

    kt topics "${BS[@]}" --delete --topic tools-cfg
    local deadline=$((SECONDS + 20))
    while kt topics "${BS[@]}" --list && grep -qxF tools-cfg "$OUT"; do
        ((SECONDS < deadline)) || kt_fail "tools-cfg still listed 20 s after --delete"
        sleep 1
    done
    expect_line tools-assign
    ! kt_try topics "${BS[@]}" --describe --topic tools-cfg || kt_fail "describe of a deleted topic succeeded"
    grep -q "Topic 'tools-cfg' does not exist" "$KT_ERR" || kt_fail "deleted topic: no 'does not exist'"
}

section_configs_topic() {
    local e=(--entity-type topics --entity-name tools-configs)
    kt topics "${BS[@]}" --create --topic tools-configs --partitions 1 --config retention.ms=86400000
    kt configs "${BS[@]}" --describe "${e[@]}"
    expect_line "Dynamic configs for topic tools-configs are:"
    expect_eq "retention.ms" "$(cfg retention.ms)" "86400000 DYNAMIC_TOPIC_CONFIG"

    kt configs "${BS[@]}" --alter "${e[@]}" --add-config max.message.bytes=200000,segment.ms=3600000
    expect_line "Completed updating config for topic tools-configs."
    kt configs "${BS[@]}" --describe "${e[@]}"
    expect_eq "max.message.bytes" "$(cfg max.message.bytes)" "200000 DYNAMIC_TOPIC_CONFIG"
    expect_eq "segment.ms" "$(cfg segment.ms)" "3600000 DYNAMIC_TOPIC_CONFIG"
    expect_eq "retention.ms" "$(cfg retention.ms)" "86400000 DYNAMIC_TOPIC_CONFIG"

    kt configs "${BS[@]}" --alter "${e[@]}" --delete-config segment.ms
    expect_line "Completed updating config for topic tools-configs."
    kt configs "${BS[@]}" --describe "${e[@]}"
    expect_eq "segment.ms after --delete-config" "$(cfg segment.ms)" ""
    expect_eq "max.message.bytes" "$(cfg max.message.bytes)" "200000 DYNAMIC_TOPIC_CONFIG"

    # --all: the defaults too (Kafka's: 7 days, delete), the topic's own values still first.
    kt configs "${BS[@]}" --describe "${e[@]}" --all
    expect_line "All configs for topic tools-configs are:"
    expect_eq "segment.ms (--all)" "$(cfg segment.ms | cut -d' ' -f1)" 604800000
    expect_eq "cleanup.policy (--all)" "$(cfg cleanup.policy)" "delete DEFAULT_CONFIG"
    expect_eq "retention.ms (--all)" "$(cfg retention.ms)" "86400000 DYNAMIC_TOPIC_CONFIG"
}

# Broker configs: broker 1's (--all) and the cluster-wide defaults (--entity-default).
section_configs_broker() {
    local one=(--entity-type brokers --entity-name 1) all=(--entity-type brokers --entity-default)
    kt configs "${BS[@]}" --describe "${one[@]}" --all
    expect_line "All configs for broker 1 are:"
    expect_eq "num.partitions (--all)" "$(cfg num.partitions | cut -d' ' -f1)" 1
    expect_eq "log.segment.bytes (--all)" "$(cfg log.segment.bytes)" "1073741824 DEFAULT_CONFIG"
    expect_eq "message.max.bytes (--all)" "$(cfg message.max.bytes)" "1048588 DEFAULT_CONFIG"

    kt configs "${BS[@]}" --alter "${all[@]}" --add-config log.retention.ms=7200000
    expect_line "Completed updating default config for brokers in the cluster."
    kt configs "${BS[@]}" --describe "${all[@]}"
    expect_line "Default configs for brokers in the cluster are:"
    expect_eq "log.retention.ms (cluster default)" "$(cfg log.retention.ms)" "7200000 DYNAMIC_DEFAULT_BROKER_CONFIG"
    kt configs "${BS[@]}" --describe "${one[@]}" --all
    expect_eq "log.retention.ms of broker 1 (--all)" "$(cfg log.retention.ms)" "7200000 DYNAMIC_DEFAULT_BROKER_CONFIG"

    kt configs "${BS[@]}" --alter "${all[@]}" --delete-config log.retention.ms
    expect_line "Completed updating default config for brokers in the cluster."
    kt configs "${BS[@]}" --describe "${one[@]}" --all
    [[ "$(cfg log.retention.ms)" != *DYNAMIC* ]] || kt_fail "log.retention.ms still dynamic after --delete-config"
    # --entity-default lists the dynamic cluster-wide defaults only: no longer this one.
    kt configs "${BS[@]}" --describe "${all[@]}"
    expect_eq "log.retention.ms (cluster default) after --delete-config" "$(cfg log.retention.ms)" ""
    ! grep -vE '^Default configs|^  [^ ]+ sensitive=(true|false) synonyms=\{DYNAMIC_DEFAULT_BROKER_CONFIG:' "$OUT" \
        | grep -q . || kt_fail "--entity-default lists configs that are not dynamic cluster defaults"
}

# A config of broker 1 alone (--entity-name 1): source DYNAMIC_BROKER_CONFIG, not a cluster default.
section_configs_broker_id() {
    local one=(--entity-type brokers --entity-name 1)
    kt configs "${BS[@]}" --describe "${one[@]}"
    expect_line "Dynamic configs for broker 1 are:"
    expect_eq "log.retention.ms before" "$(cfg log.retention.ms)" ""
    kt configs "${BS[@]}" --alter "${one[@]}" --add-config log.retention.ms=3600000
    expect_line "Completed updating config for broker 1."
    kt configs "${BS[@]}" --describe "${one[@]}"
    expect_eq "log.retention.ms" "$(cfg log.retention.ms)" "3600000 DYNAMIC_BROKER_CONFIG"
    kt configs "${BS[@]}" --alter "${one[@]}" --delete-config log.retention.ms
    expect_line "Completed updating config for broker 1."
    kt configs "${BS[@]}" --describe "${one[@]}"
    expect_eq "log.retention.ms after --delete-config" "$(cfg log.retention.ms)" ""
}

section_console() {
    kt topics "${BS[@]}" --create --topic tools-console --partitions 2
    produce tools-console "$RECORDS"
    consume --topic tools-console --from-beginning --max-messages 10
    expect_eq "console consumer --from-beginning" "$CONSUMED" "$EXPECTED_CONSUMED"
    grep -qxF "Processed a total of 10 messages" "$KT_ERR" || kt_fail "no 'Processed a total of 10 messages'"
    consume --topic tools-console --partition 1 --offset 6 --max-messages 2
    expect_eq "console consumer --partition 1 --offset 6" "$CONSUMED" "$(grep -P '^Partition:1\tOffset:[67]\t' <<<"$EXPECTED_CONSUMED")"
}

# group_offsets GROUP: "TOPIC:PARTITION:CURRENT:LOG-END:LAG" per row of
# kafka-consumer-groups --describe (or "TOPIC:PARTITION:NEW-OFFSET" of --reset-offsets),
# sorted, space-separated.
group_rows() {
    awk -v g="$1" '$1 == g { r = $2 ":" $3 ":" $4; if ($5 ~ /^[0-9-]+$/) r = r ":" $5 ":" $6; print r }' "$OUT" |
        LC_ALL=C sort | paste -sd' ' -
}

section_groups() {
    local g=tools-group t=tools-groups
    kt topics "${BS[@]}" --create --topic "$t" --partitions 2
    produce "$t" "$RECORDS"
    consume --topic "$t" --group "$g" --from-beginning --max-messages 10
    expect_eq "console consumer --group" "$CONSUMED" "$(sed "s/tools-console/$t/" <<<"$EXPECTED_CONSUMED")"

    kt consumer-groups "${BS[@]}" --list
    expect_line "$g"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after consuming all" "$(group_rows "$g")" "$t:0:2:2:0 $t:1:8:8:0"
    kt consumer-groups "${BS[@]}" --describe --group "$g" --state
    grep -qE "^$g +.* +Empty +0 *$" "$OUT" || kt_fail "--state: $g is not Empty with 0 members"

    # 4 more records (k3 twice: partition 0; k0 twice: partition 1): lag 2 on each.
    printf 'src:tools,seq:10\tk3\tvalue-10\nsrc:tools,seq:11\tk3\tvalue-11\nsrc:tools,seq:12\tk0\tvalue-12\nsrc:tools,seq:13\tk0\tvalue-13\n' >"$WORK/more.txt"
    produce "$t" "$WORK/more.txt"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "lag after 4 more records" "$(group_rows "$g")" "$t:0:2:4:2 $t:1:8:10:2"

    kt consumer-groups "${BS[@]}" --group "$g" --reset-offsets --to-earliest --topic "$t"
    expect_eq "--to-earliest dry run" "$(group_rows "$g")" "$t:0:0 $t:1:0"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after a dry run" "$(group_rows "$g")" "$t:0:2:4:2 $t:1:8:10:2"
    kt consumer-groups "${BS[@]}" --group "$g" --reset-offsets --to-earliest --topic "$t" --execute
    expect_eq "--to-earliest --execute" "$(group_rows "$g")" "$t:0:0 $t:1:0"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after --to-earliest" "$(group_rows "$g")" "$t:0:0:4:4 $t:1:0:10:10"
    kt consumer-groups "${BS[@]}" --group "$g" --reset-offsets --shift-by 3 --topic "$t" --execute
    expect_eq "--shift-by 3" "$(group_rows "$g")" "$t:0:3 $t:1:3"
    kt consumer-groups "${BS[@]}" --group "$g" --reset-offsets --shift-by -1 --topic "$t:1" --execute
    expect_eq "--shift-by -1 on partition 1" "$(group_rows "$g")" "$t:1:2"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after --shift-by" "$(group_rows "$g")" "$t:0:3:4:1 $t:1:2:10:8"

    # --to-datetime on a 1-partition topic: the first record at or after T is offset 5; a
    # member of the group then starts there.
    kt topics "${BS[@]}" --create --topic "$t-dt" --partitions 1
    produce_around_t "$t-dt"
    kt consumer-groups "${BS[@]}" --group "$g" --reset-offsets --to-datetime "$T_ISO" --topic "$t-dt" --execute
    expect_eq "--to-datetime $T_ISO" "$(group_rows "$g")" "$t-dt:0:5"
    consume --topic "$t-dt" --group "$g" --max-messages 5
    expect_eq "group member after --to-datetime" "$(cut -f2,5 <<<"$CONSUMED" | tr '\t' ' ' | paste -sd' ' -)" \
        "Offset:5 value-5 Offset:6 value-6 Offset:7 value-7 Offset:8 value-8 Offset:9 value-9"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after the member" "$(group_rows "$g")" "$t-dt:0:10:10:0 $t:0:3:4:1 $t:1:2:10:8"

    kt consumer-groups "${BS[@]}" --delete-offsets --group "$g" --topic "$t:0"
    expect_line "Request succeeded for deleting offsets from group $g."
    grep -qE "^$t +0 +Successful" "$OUT" || kt_fail "--delete-offsets: partition 0 not Successful"
    kt consumer-groups "${BS[@]}" --describe --group "$g"
    expect_eq "offsets after --delete-offsets" "$(group_rows "$g")" "$t-dt:0:10:10:0 $t:1:2:10:8"

    kt consumer-groups "${BS[@]}" --delete --group "$g"
    expect_line "Deletion of requested consumer groups ('$g') was successful."
    kt consumer-groups "${BS[@]}" --list
    ! grep -qxF "$g" "$OUT" || kt_fail "$g still listed after --delete"
    kt_try consumer-groups "${BS[@]}" --delete --group "$g" || true
    grep -q "Group '$g' could not be deleted due to: .*GroupIdNotFoundException" "$OUT" \
        || kt_fail "a second --delete: no GroupIdNotFoundException"
}

# Describing a group that does not exist: GroupIdNotFoundException (Kafka 4's DescribeGroups
# v6 and ConsumerGroupDescribe answer GROUP_ID_NOT_FOUND), not a "Dead" group.
section_groups_unknown() {
    kt_try consumer-groups "${BS[@]}" --describe --group tools-never-existed || true
    grep -q "GroupIdNotFoundException: Group tools-never-existed not found" "$OUT" \
        || kt_fail "describe of an unknown group: no GroupIdNotFoundException"
}

section_offsets() {
    local t=tools-offsets
    kt topics "${BS[@]}" --create --topic "$t" --partitions 1
    produce_around_t "$t"
    kt get-offsets "${BS[@]}" --topic "$t"
    expect_eq "get-offsets (latest)" "$(cat "$OUT")" "$t:0:10"
    kt get-offsets "${BS[@]}" --topic "$t" --time earliest
    expect_eq "get-offsets --time earliest" "$(cat "$OUT")" "$t:0:0"
    kt get-offsets "${BS[@]}" --topic-partitions "$t:0" --time "$T_MS"
    expect_eq "get-offsets --time $T_MS" "$(cat "$OUT")" "$t:0:5"
    kt get-offsets "${BS[@]}" --topic "$t" --time max-timestamp
    [[ "$(cat "$OUT")" =~ ^$t:0:[5-9]$ ]] || kt_fail "get-offsets --time max-timestamp: not a record of the second batch"

    echo "{\"version\":1,\"partitions\":[{\"topic\":\"$t\",\"partition\":0,\"offset\":3}]}" >"$WORK/delete-records.json"
    kt delete-records "${BS[@]}" --offset-json-file "$WORK/delete-records.json"
    expect_line $'partition: '"$t"$'-0\tlow_watermark: 3'
    kt get-offsets "${BS[@]}" --topic "$t" --time earliest
    expect_eq "get-offsets --time earliest after delete-records" "$(cat "$OUT")" "$t:0:3"
    consume --topic "$t" --partition 0 --offset earliest --max-messages 1
    expect_eq "first record after delete-records" "$(cut -f2,5 <<<"$CONSUMED")" $'Offset:3\tvalue-3'
}

section_api_versions() {
    kt broker-api-versions "${BS[@]}"
    grep -q "^127.0.0.1:$BROKER_PORT (id: 1 rack: null" "$OUT" || kt_fail "no entry for broker 1 at 127.0.0.1:$BROKER_PORT"
    local tool kcat
    # "\tName(KEY): MIN to MAX [usable: V]," or "\tName(KEY): V [usable: V]," (one version);
    # APIs the broker lacks are "UNSUPPORTED".
    tool="$(sed -nE -e 's/^\t[A-Za-z]+\(([0-9]+)\): ([0-9]+) \[.*/\1 \2 \2/p' \
        -e 's/^\t[A-Za-z]+\(([0-9]+)\): ([0-9]+) to ([0-9]+) .*/\1 \2 \3/p' "$OUT" | sort -n | paste -sd, -)"
    kcat="$(broker_api_versions | awk '{print $1, $3, $4}' | sort -n | paste -sd, -)"
    [[ -n "$kcat" ]] || fail "kcat saw no ApiVersions"
    expect_eq "broker-api-versions vs kcat's ApiVersions (key min max)" "$tool" "$kcat"
}

section_cluster_id() {
    kt cluster cluster-id "${BS[@]}"
    local id meta
    id="$(sed -n 's/^Cluster ID: //p' "$OUT")"
    [[ "$id" =~ ^[A-Za-z0-9_-]{22}$ ]] || kt_fail "cluster-id: '$id' is not a 22-character base64 uuid"
    meta="$(timeout 30 "$PYTHON" -c 'import sys; from confluent_kafka.admin import AdminClient
print(AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=20).cluster_id)' "$BOOTSTRAP")"
    expect_eq "kafka-cluster cluster-id vs Metadata's cluster id" "$id" "$meta"
}

# ---------------------------------------- the admin tools of check-cluster-kafka-tools.sh
# kafka-log-dirs: broker 1's one log dir is its data dir, with both partitions of a topic, the
# one with 8 records larger than the one with 2.
section_log_dirs() {
    local t=tools-logdirs
    kt topics "${BS[@]}" --create --topic "$t" --partitions 2
    produce "$t" "$RECORDS"
    kt log-dirs "${BS[@]}" --describe --broker-list 1 --topic-list "$t"
    expect_line "Received log directory information from brokers 1"
    log_dirs_rows
    expect_eq "log dirs of broker 1" "$(grep '^dir ' <<<"$LOG_DIRS")" "dir 1 $BROKER_DATA_DIR null"
    expect_eq "replicas of $t (broker partition offsetLag isFuture)" \
        "$(awk '$1 == "part" {print $2, $3, $5, $6}' <<<"$LOG_DIRS" | LC_ALL=C sort | paste -sd';' -)" "1 $t-0 0 false;1 $t-1 0 false"
    awk -v t="$t" '$1 == "part" {s[$3] = $4} END {exit !(s[t "-0"] > 0 && s[t "-1"] > s[t "-0"])}' <<<"$LOG_DIRS" \
        || kt_fail "sizes: $t-0 (2 records) not > 0 or $t-1 (8 records) not larger"
}

section_features() { check_features; }

section_metadata_quorum() { check_metadata_quorum 1; }

# kafka-leader-election on one node: nothing to elect, PREFERRED or UNCLEAN.
section_leader_election() {
    local t=tools-elect
    kt topics "${BS[@]}" --create --topic "$t" --partitions 2
    kt leader-election "${BS[@]}" --election-type PREFERRED --topic "$t" --partition 1
    expect_eq "PREFERRED election of $t-1" "$(cat "$OUT")" "Valid replica already elected for partitions $t-1"
    kt leader-election "${BS[@]}" --election-type UNCLEAN --topic "$t" --partition 0
    expect_eq "UNCLEAN election of $t-0" "$(cat "$OUT")" "Valid replica already elected for partitions $t-0"
    kt leader-election "${BS[@]}" --election-type PREFERRED --all-topic-partitions
    expect_eq "PREFERRED election of every partition" "$(cat "$OUT")" ""
}

# ------------------------------------------------------------------ run
run_sections "${KAFKA_TOOLS_SECTIONS:-}"
