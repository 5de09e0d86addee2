#!/usr/bin/env bash
# check-cluster-group-failover.sh with KIP-848's group.protocol=consumer (ConsumerGroupHeartbeat):
# the same coordinator SIGKILL under two committing members, COMMIT_RESUMED_MS=, no committed
# record delivered again, a fresh member resumes exactly at the committed offsets.
export CLUSTER_GROUP_PROTOCOL=consumer
# shellcheck source=compat/check-cluster-group-failover.sh
source "$(dirname "$0")/check-cluster-group-failover.sh"
