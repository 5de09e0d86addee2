# shellcheck shell=bash
# Where the pinned Apache Kafka release lives on this machine. Sourced by compat/lib.sh,
# compat/kafka and scripts/install-test-deps, which fetches it from Maven Central with
# compat/kafka-jars/pom.xml (the one place that names the version).
#   KAFKA_HOME/libs  what Kafka's binary distribution has in libs/ (server, tools, Connect, Streams)
#   JAR_DIR          the Java client alone (kafka-clients, its codecs, slf4j -> log4j2), with
#                    classpath.txt (that client) and connect-classpath.txt (all of KAFKA_HOME/libs)
KBROKER_CACHE="${KBROKER_CACHE:-$HOME/.cache/kbroker}"
KAFKA_POM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka-jars"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM_DIR/pom.xml")"
KAFKA_HOME="$KBROKER_CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
JAR_DIR="$KBROKER_CACHE/jars"
