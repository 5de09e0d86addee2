#!/usr/bin/env python3
"""Parses and checks what Apache Kafka's tools print, for compat/*kafka-tools*.sh.

  ktools.py log-dirs OUT
      the JSON of kafka-log-dirs --describe as lines "dir BROKER LOGDIR ERROR" and
      "part BROKER PARTITION SIZE OFFSETLAG ISFUTURE"
  ktools.py reassign-plan OUT
      the JSON documents of kafka-reassign-partitions --generate (or --execute) as lines
      "current TOPIC-P REPLICAS LOGDIRS" (the current assignment) and "proposed TOPIC-P REPLICAS
      LOGDIRS", REPLICAS and LOGDIRS comma-separated, partitions sorted
  ktools.py verifiable-producer OUT N LEDGER
      kafka-verifiable-producer's JSON events: N producer_send_success (values 0..N-1, each once),
      no producer_send_error, shutdown_complete, tool_data sent = acked = N; on each partition
      the offsets are 0, 1, 2, ... in the order of the values sent. Writes the acked records to
      LEDGER (JSON: [[partition, offset, key, value], ...]).
  ktools.py verifiable-consumer OUT LEDGER
      kafka-verifiable-consumer --verbose's JSON events: every record of LEDGER consumed with its
      key and value at its offset, nothing else; on each partition in offset order, each offset
      once; records_consumed events agree with the records; every offsets_committed succeeded
      and the last commit of each partition is its end offset; shutdown_complete.

Exit status 1 with the reasons on stderr when a check fails; a one-line summary on stdout.
"""
import json
import sys
from collections import defaultdict


def fail(msg):
    print(f"ktools: {msg}", file=sys.stderr)
    sys.exit(1)


def events(path):
    """The JSON objects of a verifiable client's stdout, one a line."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                fail(f"{path}:{n}: not a JSON line: {line.strip()[:200]}")
    if not out:
        fail(f"{path}: no events")
    return out


def names(evs):
    counts = defaultdict(int)
    for e in evs:
        counts[e.get("name")] += 1
    return dict(counts)


def log_dirs(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith("{")]
    if len(lines) != 1:
        fail(f"{path}: expected one JSON line, found {len(lines)}")
    doc = json.loads(lines[0])
    if doc.get("version") != 1:
        fail(f"{path}: version {doc.get('version')!r}, expected 1")
    for b in doc["brokers"]:
        for d in b["logDirs"]:
            print("dir", b["broker"], d["logDir"], d["error"] if d["error"] is not None else "null")
            for p in d["partitions"]:
                print("part", b["broker"], p["partition"], p["size"], p["offsetLag"],
                      str(p["isFuture"]).lower())


def reassign_plan(path):
    """--generate prints "Current partition replica assignment", a JSON line, then "Proposed
    partition reassignment configuration" and another; --execute the first (and its rollback
    hint)."""
    kind = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line == "Current partition replica assignment":
                kind = "current"
            elif line == "Proposed partition reassignment configuration":
                kind = "proposed"
            elif line.startswith("{"):
                if kind is None:
                    fail(f"{path}: a JSON line before any heading")
                doc = json.loads(line)
                if doc.get("version") != 1:
                    fail(f"{path}: version {doc.get('version')!r}, expected 1")
                parts = sorted(doc["partitions"], key=lambda p: (p["topic"], p["partition"]))
                for p in parts:
                    if len(p["log_dirs"]) != len(p["replicas"]):
                        fail(f"{path}: {p}: not one log dir per replica")
                    print(kind, f"{p['topic']}-{p['partition']}", ",".join(map(str, p["replicas"])),
                          ",".join(p["log_dirs"]))
                kind = None


def verifiable_producer(path, n, ledger):
    evs = events(path)
    count = names(evs)
    if evs[0].get("name") != "startup_complete":
        fail(f"first event is {evs[0].get('name')!r}, not startup_complete")
    errors = [e for e in evs if e.get("name") == "producer_send_error"]
    if errors:
        fail(f"{len(errors)} producer_send_error events, e.g. {json.dumps(errors[0])}")
    if count.get("shutdown_complete") != 1:
        fail(f"no shutdown_complete (events: {count})")
    acked = [e for e in evs if e.get("name") == "producer_send_success"]
    values = sorted(int(e["value"]) for e in acked)
    if values != list(range(n)):
        fail(f"{len(acked)} producer_send_success events with {len(set(values))} distinct values; "
             f"expected the values 0..{n - 1} once each")
    data = [e for e in evs if e.get("name") == "tool_data"]
    if len(data) != 1 or data[0].get("sent") != n or data[0].get("acked") != n:
        fail(f"tool_data: {data}, expected sent = acked = {n}")
    per = defaultdict(list)
    for e in acked:
        per[e["partition"]].append(e)
    for p, recs in sorted(per.items()):
        recs.sort(key=lambda e: e["offset"])
        offsets = [e["offset"] for e in recs]
        if offsets != list(range(len(recs))):
            fail(f"partition {p}: offsets {offsets[:10]}... are not 0..{len(recs) - 1}")
        vals = [int(e["value"]) for e in recs]
        if vals != sorted(vals):
            fail(f"partition {p}: values not in the order they were sent: {vals[:20]}...")
    with open(ledger, "w") as f:
        json.dump([[e["partition"], e["offset"], e["key"], e["value"]] for e in acked], f)
    print(f"{n} acked: " + " ".join(f"p{p}={len(r)}" for p, r in sorted(per.items())))


def verifiable_consumer(path, ledger):
    evs = events(path)
    count = names(evs)
    with open(ledger) as f:
        acked = {(p, o): (k, v) for p, o, k, v in json.load(f)}
    if evs[0].get("name") != "startup_complete":
        fail(f"first event is {evs[0].get('name')!r}, not startup_complete")
    if count.get("shutdown_complete") != 1:
        fail(f"no shutdown_complete (events: {count})")
    assigned = {a["partition"] for e in evs if e.get("name") == "partitions_assigned" for a in e["partitions"]}
    if not {p for p, _ in acked} <= assigned:
        fail(f"partitions assigned {sorted(assigned)} do not cover {sorted({p for p, _ in acked})}")
    last = {}
    consumed = {}
    for e in evs:
        if e.get("name") != "record_data":
            continue
        p, o = e["partition"], e["offset"]
        if o <= last.get(p, -1):
            fail(f"partition {p}: offset {o} after {last[p]} (out of order or twice)")
        last[p] = o
        consumed[(p, o)] = (e["key"], e["value"])
    missing = sorted(set(acked) - set(consumed))
    if missing:
        fail(f"{len(missing)} acked records not consumed, e.g. (partition, offset) {missing[:5]}")
    extra = sorted(set(consumed) - set(acked))
    if extra:
        fail(f"{len(extra)} records consumed that were never acked, e.g. {extra[:5]}")
    wrong = [(po, acked[po], consumed[po]) for po in sorted(acked) if acked[po] != consumed[po]]
    if wrong:
        fail(f"{len(wrong)} records with another key/value than acked, e.g. {wrong[:3]}")
    per = defaultdict(int)
    for e in evs:
        if e.get("name") == "records_consumed":
            parts = sum(p["count"] for p in e["partitions"])
            if parts != e["count"]:
                fail(f"records_consumed count {e['count']} but its partitions sum to {parts}")
            for p in e["partitions"]:
                per[p["partition"]] += p["count"]
    by_part = defaultdict(int)
    for p, _ in consumed:
        by_part[p] += 1
    if dict(per) != dict(by_part):
        fail(f"records_consumed per partition {dict(per)} != record_data per partition {dict(by_part)}")
    commits = [e for e in evs if e.get("name") == "offsets_committed"]
    if not commits:
        fail("no offsets_committed event")
    bad = [e for e in commits if e.get("success") is not True]
    if bad:
        fail(f"{len(bad)} failed commits, e.g. {json.dumps(bad[0])}")
    committed = {}
    for e in commits:
        for o in e["offsets"]:
            committed[o["partition"]] = o["offset"]
    want = {p: o + 1 for p, o in last.items()}
    if committed != want:
        fail(f"last committed offsets {committed}, expected the end offsets {want}")
    print(f"{len(consumed)} consumed in order, {len(commits)} commits, committed "
          + " ".join(f"p{p}={o}" for p, o in sorted(committed.items())))


def main():
    args = sys.argv[1:]
    if args[:1] == ["log-dirs"] and len(args) == 2:
        log_dirs(args[1])
    elif args[:1] == ["reassign-plan"] and len(args) == 2:
        reassign_plan(args[1])
    elif args[:1] == ["verifiable-producer"] and len(args) == 4:
        verifiable_producer(args[1], int(args[2]), args[3])
    elif args[:1] == ["verifiable-consumer"] and len(args) == 3:
        verifiable_consumer(args[1], args[2])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
