#!/usr/bin/env bash
# Runs every compat/check-*.sh (or the ones named on the command line), each
# under its own time limit, and prints a summary. Exit status is non-zero if
# any check failed.
#
#   compat/run-all.sh                 # all checks
#   compat/run-all.sh kcat kill9      # only check-kcat.sh and check-kill9.sh
#   compat/run-all.sh check-group-kcat   # any compat/*.sh by its name
#   compat/run-all.sh --pending       # all pending-*.sh (checks for features
#                                     # the broker doesn't have yet)
#
# Env: CHECK_TIMEOUT (seconds per check, default 300), SKIP_INSTALL=1 to skip
# scripts/install-test-deps (it is idempotent and quick when warm),
# COMPAT_TARGET=kafka to run the checks against a real Apache Kafka broker
# (compat/kafka-ref.sh) instead of kbroker; checks that need kbroker itself skip.
set -uo pipefail

COMPAT_DIR="$(cd "$(dirname "$0")" && pwd)"
CHECK_TIMEOUT="${CHECK_TIMEOUT:-300}"

if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
    "$COMPAT_DIR/../scripts/install-test-deps" || { echo "install-test-deps failed" >&2; exit 1; }
fi

if (($#)); then
    checks=()
    for name in "$@"; do
        name="$(basename -- "${name%.sh}")"
        if [[ "$name" == --pending ]]; then
            checks+=("$COMPAT_DIR"/pending-*.sh)
        elif [[ -f "$COMPAT_DIR/$name.sh" && "$name" != lib && "$name" != run-all ]]; then
            checks+=("$COMPAT_DIR/$name.sh") # explicit script name, e.g. check-group-kcat
        else
            checks+=("$COMPAT_DIR/check-${name#check-}.sh")
        fi
    done
else
    checks=("$COMPAT_DIR"/check-*.sh)
fi

passed=0 failed=0 skipped=0
results=()
for c in "${checks[@]}"; do
    name="$(basename "$c" .sh)"
    echo
    echo "======== $name ========"
    start=$SECONDS
    # timeout runs the check in its own process group and signals the whole
    # group, so a hung client can't outlive the limit; the check's EXIT trap
    # still stops its broker.
    warn_file="$(mktemp)"
    COMPAT_WARN_FILE="$warn_file" timeout --kill-after=20 "$CHECK_TIMEOUT" bash "$c"
    rc=$?
    secs=$((SECONDS - start))
    warns=""
    if [[ -s "$warn_file" ]]; then
        warns=", $(wc -l <"$warn_file") warning(s): $(head -n 1 "$warn_file")"
    fi
    rm -f "$warn_file"
    if ((rc == 0)); then
        passed=$((passed + 1))
        results+=("PASS  $name (${secs}s$warns)")
    elif ((rc == 77)); then # require_kbroker: not applicable to COMPAT_TARGET=kafka
        skipped=$((skipped + 1))
        results+=("SKIP  $name (${secs}s, needs kbroker itself)")
    else
        failed=$((failed + 1))
        [[ $rc == 124 ]] && why="timeout after ${CHECK_TIMEOUT}s" || why="exit $rc"
        results+=("FAIL  $name (${secs}s, $why$warns)")
    fi
done

echo
echo "======== compat summary ========"
printf '%s\n' "${results[@]}"
# Plain closing line understood by CI tooling.
summary="compat: $passed passed, $failed failed"
((skipped == 0)) || summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
