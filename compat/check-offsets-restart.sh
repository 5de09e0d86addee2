#!/usr/bin/env bash
# Committed offsets survive a broker restart (issue 20), single node, official Java consumer
# (java/CommitCheck.java): three groups that share one broker each commit 5 partitions of two
# topics (3 + 2) in ONE commitSync; committed() must return every one of them, with its
# metadata, after a SIGKILL right after the last acknowledged commit, and again (new values)
# after a clean SIGTERM restart.
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

TOPIC="commits-$$"
GROUPS_LIST="cg-a-$$,cg-b-$$,cg-c-$$"

java_build
start_broker
java_run 120 CommitCheck create "$BOOTSTRAP" "$TOPIC" 1 >"$WORK/create.out" 2>&1 \
    || { cat "$WORK/create.out" >&2; fail "creating the topics"; }

round() { # ROUND BASE KIND
    local round=$1 base=$2 kind=$3
    java_run 180 CommitCheck commit "$BOOTSTRAP" "$TOPIC" "$GROUPS_LIST" "$base" "$WORK/before-$round.txt" \
        >"$WORK/commit-$round.out" 2>&1 || { cat "$WORK/commit-$round.out" >&2; fail "round $round: commit"; }
    # Nothing between the last acknowledged commit and the restart.
    if [[ "$kind" == kill9 ]]; then kill9_broker; else stop_broker; fi
    restart_broker
    java_run 180 CommitCheck committed "$BOOTSTRAP" "$TOPIC" "$GROUPS_LIST" "$WORK/after-$round.txt" \
        >"$WORK/committed-$round.out" 2>&1 || { cat "$WORK/committed-$round.out" >&2; fail "round $round: committed()"; }
    if ! diff -u "$WORK/before-$round.txt" "$WORK/after-$round.txt" >&2; then
        fail "round $round ($kind restart): committed offsets differ after the restart"
    fi
    log "round $round: all $(wc -l <"$WORK/after-$round.txt") committed offsets equal after a $kind restart"
}

round 1 1000 kill9
round 2 5000 sigterm
log "PASS"
