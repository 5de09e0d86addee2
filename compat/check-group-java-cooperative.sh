#!/usr/bin/env bash
# Consumer groups over the classic protocol with incremental cooperative
# rebalancing (KIP-429: partition.assignment.strategy=CooperativeStickyAssignor)
# in the official Java client 4.3.1: the same checks as
# check-group-java-classic.sh (split, takeover at committed offsets, second
# group, restart resume, live member across a restart, BENCH line).
export GROUP_PROTOCOL=cooperative
# shellcheck source=compat/check-group-java-classic.sh
source "$(dirname "$0")/check-group-java-classic.sh"
