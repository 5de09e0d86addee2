#!/usr/bin/env bash
# Official Java Admin client (kafka-clients 4.3.1): createTopics with
# partitions + config, duplicate create, listTopics, describeTopics,
# deleteTopics. See java/AdminCheck.java.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

java_build
start_broker
java_run 180 AdminCheck "$BOOTSTRAP"
