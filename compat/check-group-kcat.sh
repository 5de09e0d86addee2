#!/usr/bin/env bash
# Two `kcat -G` balanced consumers (Debian kcat 1.7.1 / librdkafka 2.0.2,
# classic group protocol, auto commit) in one group on a 4-partition topic:
#   - both get a partition assignment: disjoint and complete ("rebalanced"
#     lines on stderr)
#   - N records produced after that are read by the two together exactly
#     once, each by the member that owns its partition
#   - after both stop (SIGTERM: commit and leave), a third `kcat -G -e` in the
#     same group reads nothing (the offsets were committed)
#   - two new members split the group; one is SIGKILLed (no LeaveGroup): after
#     session.timeout.ms the survivor owns all partitions and reads exactly the
#     records produced after the crash
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

N="${KCAT_GROUP_RECORDS:-4000}"
TOPIC="kcat-group-$$"
GROUP="kcat-g-$$"
command -v kcat >/dev/null || fail "kcat not installed (scripts/install-test-deps)"

start_broker
require_apis "${CLASSIC_GROUP_APIS[@]}"
java_run 120 TopicTool create "$BOOTSTRAP" "$TOPIC" 4

PIDS=()
stop_members() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        # bounded: a member that doesn't exit 20s after SIGTERM gets SIGKILL
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { warn "kcat pid $pid ignored SIGTERM; killing"; kill -KILL "$pid" 2>/dev/null; }
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
# also on failure: never leave a kcat behind
on_exit stop_members

member() { # name
    # -u: unbuffered output. No -o: in -G mode kcat applies -o to every
    # assignment, overriding the committed offsets; auto.offset.reset only
    # applies where the group has none.
    timeout 300 kcat -b "$BOOTSTRAP" -G "$GROUP" "$TOPIC" -X auto.offset.reset=earliest -u \
        -X session.timeout.ms=10000 -f '%p\t%o\t%s\n' >"$WORK/$1.out" 2>"$WORK/$1.err" &
    PIDS+=($!)
}

# The latest "assigned:" line of a member, as partition numbers, e.g. "0 1".
# kcat prints: % Group G rebalanced (memberid ...): assigned: T [0], T [1]
assigned() {
    grep -a 'assigned:' "$WORK/$1.err" | tail -n 1 | sed 's/.*assigned://' \
        | grep -o '\[[0-9]*\]' | tr -d '[]' | sort -n | paste -sd' ' || true
}
revoked_last() { # true if the member's last rebalance line is a revoke
    grep -a 'rebalanced' "$WORK/$1.err" | tail -n 1 | grep -q 'revoked'
}

# wait_split A B: until both members' latest assignments are disjoint and
# cover all 4 partitions; sets a1 / a2.
wait_split() {
    local deadline=$((SECONDS + 60)) all
    while :; do
        a1="$(assigned "$1")" a2="$(assigned "$2")"
        if [[ -n "$a1" && -n "$a2" ]] && ! revoked_last "$1" && ! revoked_last "$2"; then
            all="$(echo "$a1 $a2" | tr ' ' '\n' | sort -n | paste -sd' ')"
            [[ "$all" == "0 1 2 3" ]] && break
        fi
        if ((SECONDS > deadline)); then
            tail -n 20 "$WORK/$1.err" "$WORK/$2.err"
            fail "the two members did not split the 4 partitions within 60s ($1: '$a1', $2: '$a2')"
        fi
        sleep 0.2
    done
    log "split: $1 owns [$a1], $2 owns [$a2]"
}

log "starting two kcat -G members in group $GROUP"
member m1
sleep 1
member m2
wait_split m1 m2

"$PYTHON" - "$N" >"$WORK/input.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"k{i}\tv-{i:06d}")
PY
log "producing $N records"
timeout 120 kcat -b "$BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -X acks=all <"$WORK/input.txt" 2>"$WORK/produce.err" \
    || { cat "$WORK/produce.err"; fail "kcat -P failed"; }

deadline=$((SECONDS + 60))
until (($(cat "$WORK/m1.out" "$WORK/m2.out" | wc -l) >= N)); do
    if ((SECONDS > deadline)); then
        tail -n 20 "$WORK"/m1.err "$WORK"/m2.err
        fail "members consumed $(cat "$WORK/m1.out" "$WORK/m2.out" | wc -l) of $N records within 60s"
    fi
    sleep 0.2
done
sleep 2 # anything extra (duplicates) would show up now
log "stopping the members (SIGTERM: final commit, leave group)"
stop_members

"$PYTHON" - "$WORK/input.txt" "$WORK/m1.out" "$WORK/m2.out" "$a1" "$a2" <<'PY'
import sys, collections
inp, o1, o2, a1, a2 = sys.argv[1:]
def fail(msg):
    sys.exit(f"check-group-kcat: FAIL: {msg}")
sent = sorted(l.rstrip("\n").split("\t", 1)[1] for l in open(inp))
got = []
for name, path, own in (("m1", o1, a1), ("m2", o2, a2)):
    own = {int(x) for x in own.split()}
    n = 0
    for line in open(path):
        p, o, v = line.rstrip("\n").split("\t", 2)
        if int(p) not in own:
            fail(f"{name} got partition {p} offset {o} but owns {sorted(own)}")
        got.append((int(p), int(o), v))
        n += 1
    print(f"{name}: {n} records from partitions {sorted(own)}")
dups = [k for k, c in collections.Counter((p, o) for p, o, _ in got).items() if c > 1]
if dups:
    fail(f"{len(dups)} records delivered twice, e.g. (partition, offset) {dups[:5]}")
if sorted(v for _, _, v in got) != sent:
    fail(f"read {len(got)} records; the multiset differs from the {len(sent)} produced")
print(f"the two members read all {len(sent)} records exactly once")
PY

log "third member with -e: must read nothing (offsets committed)"
timeout 60 kcat -b "$BOOTSTRAP" -G "$GROUP" "$TOPIC" -X auto.offset.reset=earliest -e -u -f '%p\t%o\t%s\n' \
    >"$WORK/m3.out" 2>"$WORK/m3.err" || { tail -n 20 "$WORK/m3.err"; fail "kcat -G -e (third member) failed"; }
if [[ -s "$WORK/m3.out" ]]; then
    head -n 5 "$WORK/m3.out"
    fail "third member re-read $(wc -l <"$WORK/m3.out") committed records"
fi
grep -q 'assigned:' "$WORK/m3.err" || { tail -n 20 "$WORK/m3.err"; fail "third member never got an assignment"; }

# A member that dies without LeaveGroup: the coordinator must expire it after
# session.timeout.ms (10 s) and hand its partitions to the survivor.
log "crash: m4 and m5 split the group, then m4 is SIGKILLed (no LeaveGroup)"
member m4
sleep 1
member m5
wait_split m4 m5
m4_kcat="$(pgrep -P "${PIDS[0]}" -x kcat)" || fail "no kcat process under timeout pid ${PIDS[0]}"
kill -KILL "$m4_kcat"
killed_at=$SECONDS
wait "${PIDS[0]}" 2>/dev/null || true # reap it (its timeout exits 137)
M=$((N / 4))
"$PYTHON" - "$M" >"$WORK/input2.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"k{i}\tw-{i:06d}")
PY
timeout 120 kcat -b "$BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -X acks=all <"$WORK/input2.txt" 2>"$WORK/produce2.err" \
    || { cat "$WORK/produce2.err"; fail "kcat -P failed"; }
deadline=$((SECONDS + 60))
until [[ "$(assigned m5)" == "0 1 2 3" ]] && ! revoked_last m5; do
    if ((SECONDS > deadline)); then
        tail -n 20 "$WORK/m5.err"
        fail "m5 did not take over all partitions within 60s of m4's SIGKILL (owns '$(assigned m5)')"
    fi
    sleep 0.2
done
log "m5 owns all partitions $((SECONDS - killed_at))s after m4's SIGKILL (session.timeout.ms=10000)"
deadline=$((SECONDS + 60))
until (($(wc -l <"$WORK/m5.out") >= M)); do
    ((SECONDS < deadline)) || fail "m5 read $(wc -l <"$WORK/m5.out") of the $M new records within 60s"
    sleep 0.2
done
sleep 2
stop_members
[[ ! -s "$WORK/m4.out" ]] || fail "m4 read records before any were produced: $(head -n 3 "$WORK/m4.out")"
cut -f3 "$WORK/m5.out" | sort >"$WORK/m5.values"
cut -f2 "$WORK/input2.txt" | sort >"$WORK/input2.values"
cmp -s "$WORK/m5.values" "$WORK/input2.values" \
    || fail "m5 read $(wc -l <"$WORK/m5.out") records; expected exactly the $M produced after the crash, once each"
log "m5 read exactly the $M records produced after the crash"
log "PASS"
