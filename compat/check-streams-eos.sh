#!/usr/bin/env bash
# Kafka Streams word count with processing.guarantee=exactly_once_v2 (issue 17): check-streams.sh
# with STREAMS_GUARANTEE=exactly_once_v2, where the app is SIGKILLed mid-run (while the second
# batch is being produced and processed, transactions open), its state.dir deleted, and
# restarted: read_committed output must hold the exact counts, the input fully committed.
export STREAMS_GUARANTEE=exactly_once_v2
exec "$(dirname "$0")/check-streams.sh" "$@"
