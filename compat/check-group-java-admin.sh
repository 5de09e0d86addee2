#!/usr/bin/env bash
# Consumer-group administration with the Java Admin client 4.3.1:
# listConsumerGroups (+ inGroupStates filter) / listGroups,
# describeConsumerGroups (state, members, assignment, assignor, coordinator),
# listConsumerGroupOffsets (all / subset), alterConsumerGroupOffsets (refused
# with UnknownMemberIdException while the group has members, applied when
# empty: a new member starts there), deleteConsumerGroups (GroupNotEmpty while
# active, GroupIdNotFound for unknown groups). If the broker advertises
# ConsumerGroupHeartbeat, a KIP-848 group is described too.
# See java/GroupAdminCheck.java.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

java_build
start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}" 15:DescribeGroups 16:ListGroups 42:DeleteGroups
extra=()
if grep -q '^68 ' "$WORK/apiversions.txt"; then
    extra=(--consumer-protocol)
else
    log "broker lacks ConsumerGroupHeartbeat(68): skipping the KIP-848 group part"
fi
java_run 240 GroupAdminCheck "$BOOTSTRAP" "${extra[@]}"
