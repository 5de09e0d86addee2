#!/usr/bin/env bash
# Reference mode: the official-tool, Kafka Connect and Kafka Streams checks against a real
# Apache Kafka (the release pinned in compat/kafka-jars/pom.xml, KRaft, started by each check
# on loopback from the same jars). A check that fails here is a wrong check, not a broker bug.
#
#   compat/run-reference.sh             # the checks below
#   compat/run-reference.sh kafka-tools # any of them, or any other check, by name
#
# Checks that need kbroker itself (its metrics, its cluster) exit 77 and are reported SKIP.
set -uo pipefail
cd "$(dirname "$0")"
export COMPAT_TARGET=kafka
if (($#)); then
    exec ./run-all.sh "$@"
fi
exec ./run-all.sh check-kafka-tools check-kafka-tools-perf check-cluster-kafka-tools \
    check-connect check-streams check-offsets-restart check-java-produce-consume check-kcat
