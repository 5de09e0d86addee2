#!/usr/bin/env python3
"""Tables and target status from the BENCH lines scripts/bench wrote.

usage: bench_report.py BENCH_FILE   (markdown on stdout)

Rows are kept apart by target (kafka: Apache Kafka; kbroker: BROKER_BIN, "A"; kbroker-b:
BROKER_BIN_B, "B") and durability class (fsync, interval). With several rounds a figure is the
median of the rounds.
"""
import shlex
import statistics
import sys

NAN = float("nan")
CLASSES = {
    "fsync": "fsync: kbroker --flush-policy fsync / Kafka log.flush.interval.messages=1",
    "interval": "no fsync: kbroker --flush-policy interval / Kafka defaults",
}


def parse(path):
    """{kind: [fields...]} from lines `BENCH kind key=value ...`."""
    out = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("BENCH "):
                continue
            words = shlex.split(line)
            fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
            # Files written before the Kafka reference have kbroker's default class only.
            fields.setdefault("target", "kbroker")
            fields.setdefault("class", "fsync")
            fields.setdefault("round", "1")
            if fields.get("records") == "0":
                # Nothing sent after the warm-up was acknowledged (a paced producer that never
                # caught up with its schedule): no latency figures, not zeros.
                for key in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "mb_s", "records_s"):
                    fields[key] = "nan"
            out.setdefault(words[1], []).append(fields)
    return out


def num(fields, key):
    try:
        return float((fields or {}).get(key, "nan"))
    except ValueError:
        return NAN


def ratio(a, b):
    return a / b if b and b == b and a == a else NAN


def fmt(x, digits=1):
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else NAN


class Runs:
    """Lines of one kind grouped by (label, class, target); figures are medians over rounds."""

    def __init__(self, lines):
        self.groups = {}
        self.order = []
        for f in lines:
            key = (f.get("label", ""), f["class"])
            if key not in self.order:
                self.order.append(key)
            self.groups.setdefault((f.get("label", ""), f["class"], f["target"]), []).append(f)

    def get(self, label, cls, target, key):
        return median([num(f, key) for f in self.groups.get((label, cls, target), [])])

    def first(self, label, cls, target):
        runs = self.groups.get((label, cls, target))
        return runs[0] if runs else None

    def has(self, target):
        return any(t == target for (_, _, t) in self.groups)

    def rounds(self, label, cls, target):
        return len(self.groups.get((label, cls, target), []))


def is_max(f):
    return f is not None and f.get("rate", "0") == "0"


def is_read(label):
    """Rows that only produce the input of a consume measurement."""
    return label.endswith("-read")


def consume_pair(runs, label, cls, a, b):
    """Consume MB/s of targets A and B on a row, if both read the same bytes (kcat and -read rows:
    fixed_bytes) in every round; NaN otherwise: time-bounded rows read what each target produced."""
    fixed = {f.get("fixed_bytes") for t in (a, b) for f in runs.groups.get((label, cls, t), [])}
    if len(fixed) != 1 or None in fixed:
        return NAN, NAN
    return runs.get(label, cls, a, "consume_mb_s"), runs.get(label, cls, b, "consume_mb_s")


def vs_kafka(single, cluster):
    """Throughput and latency tables: kbroker against Apache Kafka, class by class."""
    if not (single.has("kafka") or cluster.has("kafka")):
        return
    print("### kbroker / Apache Kafka: throughput\n")
    print("| scenario | class | client | kbroker produce MB/s | Kafka produce MB/s | produce ratio "
          "| kbroker consume MB/s | Kafka consume MB/s | consume ratio | rounds |")
    print("|" + "---|" * 10)
    for label, cls in single.order:
        f = single.first(label, cls, "kbroker") or single.first(label, cls, "kafka")
        if not is_max(f):
            continue
        a, k = single.get(label, cls, "kbroker", "mb_s"), single.get(label, cls, "kafka", "mb_s")
        if is_read(label):
            a = k = NAN
        ac, kc = consume_pair(single, label, cls, "kbroker", "kafka")
        print(f"| {label} | {cls} | {f.get('client', 'java')} | {fmt(a)} | {fmt(k)} | {fmt(ratio(a, k), 2)} "
              f"| {fmt(ac)} | {fmt(kc)} | {fmt(ratio(ac, kc), 2)} | {single.rounds(label, cls, 'kbroker')} |")
    for label, cls in cluster.order:
        if label != "cluster":
            continue
        a, k = cluster.get(label, cls, "kbroker", "mb_s"), cluster.get(label, cls, "kafka", "mb_s")
        print(f"| 3 nodes, RF=3, 3 partitions | {cls} | java | {fmt(a)} | {fmt(k)} | {fmt(ratio(a, k), 2)} "
              f"| - | - | - | {cluster.rounds(label, cls, 'kbroker')} |")
    print("\n### kbroker / Apache Kafka: produce latency at the same fixed offered load (50% of Kafka's max)\n")
    print("| scenario | class | offered rec/s | kbroker p50 ms | p99 ms | p99.9 ms | max ms "
          "| Kafka p50 ms | p99 ms | p99.9 ms | max ms | p99 ratio |")
    print("|" + "---|" * 12)
    for runs, labels in ((single, None), (cluster, {"cluster-half"})):
        for label, cls in runs.order:
            f = runs.first(label, cls, "kbroker") or runs.first(label, cls, "kafka")
            if is_max(f) or (labels and label not in labels):
                continue
            cells = []
            for t in ("kbroker", "kafka"):
                cells += [fmt(runs.get(label, cls, t, k), 2) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms")]
            r = ratio(runs.get(label, cls, "kbroker", "p99_ms"), runs.get(label, cls, "kafka", "p99_ms"))
            name = "3 nodes, RF=3 (cluster-half)" if runs is cluster else label
            print(f"| {name} | {cls} | {f.get('rate')} | " + " | ".join(cells) + f" | {fmt(r, 2)} |")
    if not any(runs.first(lbl, c, "kafka") for runs in (single, cluster) for lbl, c in runs.order):
        print("\n(no Apache Kafka rows: BENCH_KAFKA=0)")
    print("\nClasses: " + "; ".join(f"**{k}** = {v}" for k, v in CLASSES.items()) + ". "
          "Ratios are kbroker / Kafka: above 1 is better for throughput, below 1 for latency. Produce "
          "MB/s counts record values; Java rows: idempotent producer, acks=all, linger.ms=5, batch.size=64 KiB, "
          "2 s warm-up left out; kcat rows: librdkafka defaults (acks=all), one process from start to exit "
          "for produce and for consume. Consume is compared only where every target read the same bytes "
          "(kcat and -read rows); the time-bounded rows read back what each produced (detail table).")


def a_vs_b(single, cluster, lines):
    """B/A ratios of every row both binaries ran."""
    if not (single.has("kbroker-b") or cluster.has("kbroker-b")):
        return
    m = lines.get("machine", [{}])[0]
    print(f"\n### A/B: A = {m.get('broker_a', 'BROKER_BIN')}, B = {m.get('broker_b', 'BROKER_BIN_B')}\n")
    print("| scenario | class | A produce MB/s | B produce MB/s | B/A | A consume MB/s | B consume MB/s | B/A "
          "| A p99 ms | B p99 ms | B/A |")
    print("|" + "---|" * 11)
    for runs, prefix in ((single, ""), (cluster, "3 nodes RF=3: ")):
        for label, cls in runs.order:
            if runs.first(label, cls, "kbroker-b") is None:
                continue
            cells = []
            for key, digits in (("mb_s", 1), ("consume_mb_s", 1), ("p99_ms", 2)):
                a, b = runs.get(label, cls, "kbroker", key), runs.get(label, cls, "kbroker-b", key)
                if key == "consume_mb_s":
                    a, b = consume_pair(runs, label, cls, "kbroker", "kbroker-b")
                elif key == "mb_s" and is_read(label):
                    a = b = NAN
                cells += [fmt(a, digits), fmt(b, digits), fmt(ratio(b, a), 2)]
            print(f"| {prefix}{label} | {cls} | " + " | ".join(cells) + " |")
    others = []
    for kind, key, what in (("idle", "cpu_percent_of_core", "% of a core"), ("idle", "rss_mb", "RSS MB"),
                            ("restart", "ready_s", "s to readable")):
        by = {}
        for f in lines.get(kind, []):
            by[(f.get("phase", ""), f["target"])] = num(f, key)
        for phase in dict.fromkeys(p for p, _ in by):
            a, b = by.get((phase, "kbroker"), NAN), by.get((phase, "kbroker-b"), NAN)
            if b == b:
                others.append(f"| {kind} {phase} ({what}) | {fmt(a, 2)} | {fmt(b, 2)} | {fmt(ratio(b, a), 2)} |")
    if others:
        print("\n| measure | A | B | B/A |\n|---|---|---|---|")
        print("\n".join(others))


def detail_rows(lines):
    """kbroker's (A) fsync rows of round 1 against the storage and TCP baselines."""
    storage = {s["label"]: s for s in lines.get("storage", []) if "label" in s}
    tcp = num(lines.get("tcp", [{}])[0], "mb_s")
    rows = []
    for p in lines.get("produce", []):
        if p["target"] != "kbroker" or p["class"] != "fsync" or p["round"] != "1":
            continue
        seconds = num(p, "seconds") + (num(p, "warmup_s") if p.get("warmup_s") else 0)
        batch_mb_s = num(p, "broker_bytes_in") / seconds / 1e6 if seconds else NAN
        st_line = storage.get(p["label"], {})
        st = num(st_line, "batch_mb_s") if is_max(p) else NAN
        rows.append({
            "label": p["label"], "size": p["size"], "partitions": p["partitions"], "acks": p["acks"],
            "compression": p["compression"], "rate": p["rate"], "records_s": num(p, "records_s"),
            "mb_s": num(p, "mb_s"), "p50": num(p, "p50_ms"), "p99": num(p, "p99_ms"),
            "p999": num(p, "p999_ms"), "max": num(p, "max_ms"), "consume": num(p, "consume_mb_s"),
            "batch_mb_s": batch_mb_s, "batch": num(p, "batch_size_avg"), "storage": st,
            "vs_storage": ratio(batch_mb_s, st), "storage_p99": num(st_line, "append_p99_ms"),
            "vs_tcp": ratio(batch_mb_s, tcp),
            "consume_vs_produce": ratio(num(p, "consume_mb_s"), num(p, "mb_s")) if is_max(p) else NAN,
        })
    return rows, tcp


def print_detail(rows, tcp):
    if not rows:
        return
    print("\n### kbroker (fsync, round 1) against the storage and TCP baselines\n")
    print("| scenario | record B | parts | acks | compr. | offered rec/s | records/s | MB/s | p50 ms | p99 ms "
          "| p99.9 ms | max ms | consume MB/s | batch B | broker batch MB/s | storage MB/s | vs storage "
          "| storage p99 ms | vs TCP | consume/produce |")
    print("|" + "---|" * 20)
    for r in rows:
        print(f"| {r['label']} | {r['size']} | {r['partitions']} | {r['acks']} | {r['compression']} "
              f"| {'max' if r['rate'] == '0' else r['rate']} | {fmt(r['records_s'], 0)} | {fmt(r['mb_s'])} "
              f"| {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {fmt(r['p999'], 2)} | {fmt(r['max'], 2)} "
              f"| {fmt(r['consume']) if r['consume'] else '-'} | {fmt(r['batch'], 0)} | {fmt(r['batch_mb_s'])} "
              f"| {fmt(r['storage'])} | {fmt(r['vs_storage'], 2)} | {fmt(r['storage_p99'], 2)} "
              f"| {fmt(r['vs_tcp'], 3)} | {fmt(r['consume_vs_produce'], 2)} |")
    print("\nstorage MB/s and storage p99: broker/src/bin/storage_bench with the scenario's partitions and batch "
          "size, fsync group commit; closed loop (5 appends in flight per partition) for max-load rows, "
          "paced at the scenario's batches/s for offered-load rows.")
    print(f"\nLoopback TCP sink (64 KiB writes): {fmt(tcp)} MB/s. MB/s = record values; broker batch MB/s = "
          "record batches as received (broker_topic_bytes_in_total, over warm-up and measurement), the unit "
          "the baselines are in.")


def storage_field(lines, label, key):
    for s in lines.get("storage", []):
        if s.get("label") == label:
            return num(s, key)
    return NAN


def targets(single, cluster, rows, lines):
    by = {r["label"]: r for r in rows}
    status = []

    def add(name, ok, measured):
        status.append((name, "-" if ok is None else ("met" if ok else "NOT met"), measured))

    def compare(labels, key, better, what):
        """(all met or None, text) for kbroker vs Kafka on KEY over the labels of both classes."""
        parts, oks = [], []
        for label, cls in single.order:
            if label not in labels:
                continue
            a, k = single.get(label, cls, "kbroker", key), single.get(label, cls, "kafka", key)
            if a != a or k != k:
                continue
            oks.append(better(a, k))
            parts.append(f"{label} {cls} {fmt(a, 1 if 'mb' in key else 2)}/{fmt(k, 1 if 'mb' in key else 2)}")
        return (all(oks) if oks else None), (f"{what}: " + ", ".join(parts) if parts else None)

    java_max = [lbl for lbl, _ in single.order if lbl.startswith("1k-p") and lbl.endswith("-all")]
    ok, text = compare(java_max, "mb_s", lambda a, k: a >= k, "kbroker/Kafka MB/s")
    add("produce MB/s >= Apache Kafka's, single node, 1/8/64 partitions, both classes", ok, text)
    parts, oks = [], []
    for label, cls in single.order:
        a, k = consume_pair(single, label, cls, "kbroker", "kafka")
        if a == a and k == k:
            oks.append(a >= k)
            parts.append(f"{label} {cls} {fmt(a)}/{fmt(k)}")
    add("consume MB/s >= Apache Kafka's (the same bytes: Java -read rows and kcat)", all(oks) if oks else None,
        "kbroker/Kafka MB/s: " + ", ".join(parts) if parts else None)
    halves = [lbl for lbl, _ in single.order if lbl.endswith("-half")]
    ok, text = compare(halves, "p99_ms", lambda a, k: a <= k, "kbroker/Kafka p99 ms")
    add("produce p99 at 50% of Kafka's max <= Kafka's p99", ok, text)
    floor = storage_field(lines, "fsync-floor", "append_p99_ms")
    h = single.get("1k-p8-all-half", "fsync", "kbroker", "p99_ms")
    add("fsync class: produce p99 at 50% of Kafka's max <= 2x a bare fsync's p99",
        None if h != h or floor != floor else h <= 2 * floor,
        f"p99 {fmt(h, 2)} ms; one 1 KiB append in flight (storage_bench): p50 "
        f"{fmt(storage_field(lines, 'fsync-floor', 'append_p50_ms'), 2)} ms, p99 {fmt(floor, 2)} ms"
        if h == h and floor == floor else None)
    parts, oks = [], []
    for label, cls in cluster.order:
        if label == "cluster":
            a, k = cluster.get(label, cls, "kbroker", "mb_s"), cluster.get(label, cls, "kafka", "mb_s")
            if a == a and k == k:
                oks.append(a >= k)
                parts.append(f"{cls} {fmt(a)}/{fmt(k)} MB/s")
    add("3-node RF=3 produce >= Apache Kafka 3-node RF=3", all(oks) if oks else None,
        "kbroker/Kafka " + ", ".join(parts) if parts else None)

    r = by.get("1k-p8-all")
    add("1 KiB, 8 partitions, acks=all, fsync: produce >= 70% of raw RocksDB",
        None if not r or r["vs_storage"] != r["vs_storage"] else r["vs_storage"] >= 0.7,
        r and f"{fmt(r['vs_storage'], 2)} of storage baseline")
    h = by.get("1k-p8-all-half")
    add("p99 produce latency at 50% of max load < 5 ms (fsync)", None if not h else h["p99"] < 5,
        h and f"p99 {fmt(h['p99'], 2)} ms at {h['rate']} records/s; storage alone at that load: "
              f"p50 {fmt(storage_field(lines, '1k-p8-all-half', 'append_p50_ms'), 2)} ms, "
              f"p99 {fmt(storage_field(lines, '1k-p8-all-half', 'append_p99_ms'), 2)} ms")
    add("consume MB/s >= produce MB/s", None if not r else r["consume"] >= r["mb_s"],
        r and f"{fmt(r['consume_vs_produce'], 2)} x produce (1k-p8-all)")
    idles = {i.get("phase", "after-fill"): i for i in lines.get("idle", []) if i["target"] == "kbroker"}
    idle = idles.get("empty")
    after = idles.get("after-fill")
    add("1,000 idle partitions: < 5% of a core, < 500 MB RSS",
        None if not idle else num(idle, "cpu_percent_of_core") < 5 and num(idle, "rss_mb") < 500,
        idle and f"{idle['cpu_percent_of_core']}% of a core, {idle['rss_mb']} MB RSS"
        + (f" (right after the {after['data_gb']} GB fill, compaction still running: "
           f"{after['cpu_percent_of_core']}% of a core, {after['rss_mb']} MB RSS)" if after else ""))
    rs = next((f for f in lines.get("restart", []) if f["target"] == "kbroker"), None)
    add("restart with 1,000 partitions and 10 GB ready < 5 s", None if not rs else num(rs, "ready_s") < 5,
        rs and f"{rs['ready_s']} s to readable ({rs['data_gb']} GB on disk, port open {rs['port_open_s']} s"
        + (f", broker's own recovery {rs['recovered_ms']} ms" if rs.get("recovered_ms") else "") + ")")
    for cls in dict.fromkeys(c for _, c in cluster.order):
        rc = ratio(cluster.get("cluster", cls, "kbroker", "mb_s"), cluster.get("single", cls, "kbroker", "mb_s"))
        add(f"3-node cluster, RF=3, acks=all ({cls}): >= 40% of single-node produce MB/s",
            None if rc != rc else rc >= 0.4, rc == rc and f"{fmt(rc, 2)} of single node (compat/bench-cluster.sh)")
        half = cluster.first("cluster-half", cls, "kbroker")
        add(f"produce p99 at 50% of max load on the 3-node cluster < 10 ms ({cls})",
            None if not half else num(half, "p99_ms") < 10,
            half and f"p99 {half['p99_ms']} ms (p50 {half['p50_ms']} ms, p99.9 {half['p999_ms']} ms) "
                     f"at {half['rate']} records/s offered")
    print("\n| target | status | measured |\n|---|---|---|")
    for name, ok, measured in status:
        print(f"| {name} | {ok} | {measured or 'not run'} |")


def main():
    lines = parse(sys.argv[1])
    m = lines.get("machine", [{}])[0]
    load = lines.get("load", [{}])[0]
    print(f"Command: `{m.get('command', '?')}`  \nMachine: {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
          f"{m.get('mem_gb', '?')} GB RAM, Linux {m.get('kernel', '?')}; harness commit {m.get('commit', '?')}, "
          f"broker built from {m.get('broker_commit', '?')}; "
          f"{m.get('date', '?')}; Apache Kafka {m.get('kafka', '?')}; load average {m.get('loadavg', '?')} "
          f"at the start, {load.get('loadavg', '?')} at the end\n")
    single = Runs(lines.get("produce", []))
    cluster = Runs(lines.get("cluster-produce", []))
    vs_kafka(single, cluster)
    a_vs_b(single, cluster, lines)
    rows, tcp = detail_rows(lines)
    print_detail(rows, tcp)
    targets(single, cluster, rows, lines)


main()
