#!/usr/bin/env bash
# Official Java producer with default settings (idempotent, acks=all) under
# gzip/snappy/lz4/zstd, then a group-less KafkaConsumer (assign + seek)
# verifying every record exactly. See java/ProduceConsumeCheck.java.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

java_build
start_broker
java_run 300 ProduceConsumeCheck "$BOOTSTRAP" "${JAVA_RECORDS:-10000}"
