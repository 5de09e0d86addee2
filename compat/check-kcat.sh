#!/usr/bin/env bash
# kcat with Debian's librdkafka 2.0.2 (an older client than the pip wheel):
#   - kcat -L lists our single broker
#   - 3-partition topic created with the Java Admin (TopicTool)
#   - 10,000 keyed messages produced with kcat -P (acks=all)
#   - consumed with kcat -C -o beginning -e; count and content must match
#     exactly, per-partition order must follow production order
#   - targeted reads (-p 0 -o 5 -c 3, and -p 1 -o -5) return the right records
# shellcheck source=compat/lib.sh
source "$(dirname "$0")/lib.sh"

N="${KCAT_RECORDS:-10000}"
TOPIC="kcat-check-$$"
command -v kcat >/dev/null || fail "kcat not installed (scripts/install-test-deps)"

start_broker

log "kcat -L"
timeout 30 kcat -b "$BOOTSTRAP" -L -m 10 >"$WORK/metadata.txt" 2>&1 || { cat "$WORK/metadata.txt"; fail "kcat -L failed"; }
cat "$WORK/metadata.txt"
grep -q '^ 1 brokers:' "$WORK/metadata.txt" || fail "kcat -L: expected ' 1 brokers:'"
grep -q "broker 1 at $BOOTSTRAP" "$WORK/metadata.txt" || fail "kcat -L: expected 'broker 1 at $BOOTSTRAP'"

# Topic via the official Java Admin (KCAT_TOPIC_CREATE=python uses the
# confluent-kafka AdminClient instead, to tell kcat problems apart from
# Java Admin problems).
if [[ "${KCAT_TOPIC_CREATE:-java}" == python ]]; then
    log "creating $TOPIC (3 partitions) with confluent-kafka AdminClient"
    timeout 60 "$PYTHON" "$COMPAT_DIR/kill9.py" create "$BOOTSTRAP" "$TOPIC" 3
else
    log "creating $TOPIC (3 partitions) with the Java Admin"
    java_run 120 TopicTool create "$BOOTSTRAP" "$TOPIC" 3
fi

# Input: "key-<i mod 100>\tv-<i>-<filler>" one per line. Keys repeat so that
# several records share a partition; values carry the sequence number so
# order can be checked.
"$PYTHON" - "$N" >"$WORK/input.txt" <<'EOF'
import sys
for i in range(int(sys.argv[1])):
    print(f"key-{i % 100}\tv-{i:05d}-" + "abcdefghij"[i % 10] * (i % 200))
EOF

log "producing $N messages with kcat -P"
# -K '\t': key delimiter. Input via stdin: a file argument would be sent as
# ONE message. kcat exits non-zero if any delivery fails.
timeout 120 kcat -b "$BOOTSTRAP" -P -t "$TOPIC" -K $'\t' \
    -X acks=all -X message.timeout.ms=60000 <"$WORK/input.txt" 2>"$WORK/produce.err" \
    || { cat "$WORK/produce.err"; fail "kcat -P failed"; }
# Exit status and the exact comparison below are what count; this only
# makes failed deliveries visible early. (Transient '% ERROR' lines about
# reconnects are not failures.)
if grep -qi 'delivery failed' "$WORK/produce.err"; then
    cat "$WORK/produce.err"
    fail "kcat -P reported errors"
fi

log "consuming with kcat -C -o beginning -e"
# No -q: kcat's error messages go to consume.err and are shown on failure.
timeout 120 kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -o beginning -e \
    -f '%p\t%o\t%k\t%s\n' >"$WORK/output.txt" 2>"$WORK/consume.err" \
    || { tail -n 30 "$WORK/consume.err"; fail "kcat -C failed"; }

# Exact comparison in python: multiset of (key, value) equal to the input,
# offsets dense from 0 per partition, production order kept per partition,
# each key in exactly one partition.
"$PYTHON" - "$WORK/input.txt" "$WORK/output.txt" <<'EOF'
import sys, collections
sent = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
got = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[2])]
def fail(msg):
    sys.exit(f"check-kcat: FAIL: {msg}")
if len(got) != len(sent):
    fail(f"consumed {len(got)} messages, produced {len(sent)}")
if sorted(map(tuple, sent)) != sorted((k, v) for _, _, k, v in got):
    fail("consumed (key, value) set differs from the produced one")
parts = collections.defaultdict(list)
for p, o, k, v in got:
    parts[int(p)].append((int(o), k, v))
key_parts = collections.defaultdict(set)
for p, recs in parts.items():
    if [o for o, _, _ in recs] != list(range(len(recs))):
        fail(f"partition {p}: offsets not dense from 0 / not in order")
    seqs = [int(v.split("-")[1]) for _, _, v in recs]
    if seqs != sorted(seqs):
        fail(f"partition {p}: records out of production order")
    for _, k, _ in recs:
        key_parts[k].add(p)
if any(len(s) != 1 for s in key_parts.values()):
    fail("a key was spread over several partitions")
print(f"verified {len(got)} messages, per partition: {dict(sorted((p, len(r)) for p, r in parts.items()))}")
EOF

log "targeted read: partition 0, offset 5, 3 messages"
timeout 60 kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -p 0 -o 5 -c 3 -e -f '%p\t%o\t%k\t%s\n' \
    >"$WORK/slice.txt" 2>"$WORK/slice.err" || { cat "$WORK/slice.err"; fail "kcat -C -p 0 -o 5 failed"; }
expected="$(awk -F'\t' '$1 == 0 && $2 >= 5 && $2 < 8' "$WORK/output.txt")"
[[ "$(cat "$WORK/slice.txt")" == "$expected" ]] || {
    echo "got:"; cat "$WORK/slice.txt"; echo "expected:"; echo "$expected"
    fail "partition 0 offsets 5..7 differ"
}

log "relative read: partition 1, last 5 messages (-o -5)"
timeout 60 kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -p 1 -o -5 -e -f '%p\t%o\t%k\t%s\n' \
    >"$WORK/tail.txt" 2>"$WORK/tail.err" || { cat "$WORK/tail.err"; fail "kcat -C -p 1 -o -5 failed"; }
expected="$(awk -F'\t' '$1 == 1' "$WORK/output.txt" | tail -n 5)"
[[ "$(cat "$WORK/tail.txt")" == "$expected" ]] || {
    echo "got:"; cat "$WORK/tail.txt"; echo "expected:"; echo "$expected"
    fail "last 5 messages of partition 1 differ"
}

log "PASS"
