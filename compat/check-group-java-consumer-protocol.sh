#!/usr/bin/env bash
# Consumer groups with KIP-848's group.protocol=consumer
# (ConsumerGroupHeartbeat; OffsetCommit/OffsetFetch) in the official Java
# client 4.3.1: the same checks as check-group-java-classic.sh (split,
# takeover at committed offsets, second group, restart resume, BENCH line).
export GROUP_PROTOCOL=consumer
# shellcheck source=compat/check-group-java-classic.sh
source "$(dirname "$0")/check-group-java-classic.sh"
