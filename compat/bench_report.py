#!/usr/bin/env python3
"""Table and target status from the BENCH lines scripts/bench wrote.

usage: bench_report.py BENCH_FILE   (markdown on stdout)
"""
import shlex
import sys


def parse(path):
    """{kind: [fields...]} from lines `BENCH kind key=value ...`."""
    out = {}
    for line in open(path):
        if not line.startswith("BENCH "):
            continue
        words = shlex.split(line)
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        out.setdefault(words[1], []).append(fields)
    return out


def num(fields, key):
    try:
        return float(fields.get(key, "nan"))
    except ValueError:
        return float("nan")


def ratio(a, b):
    return a / b if b and b == b and a == a else float("nan")


def scenario_rows(lines):
    storage = {s["label"]: s for s in lines.get("storage", [])}
    tcp = num(lines.get("tcp", [{}])[0], "mb_s")
    rows = []
    for p in lines.get("produce", []):
        if p["label"] == "fill":
            continue
        seconds = num(p, "seconds")
        batch_mb_s = num(p, "broker_bytes_in") / seconds / 1e6 if seconds else float("nan")
        st_line = storage.get(p["label"], {})
        st = num(st_line, "batch_mb_s") if p["rate"] == "0" else float("nan")
        rows.append({
            "label": p["label"], "size": p["size"], "partitions": p["partitions"], "acks": p["acks"],
            "compression": p["compression"], "rate": p["rate"], "records_s": num(p, "records_s"),
            "mb_s": num(p, "mb_s"), "p50": num(p, "p50_ms"), "p99": num(p, "p99_ms"),
            "p999": num(p, "p999_ms"), "max": num(p, "max_ms"), "consume": num(p, "consume_mb_s"),
            "batch_mb_s": batch_mb_s, "batch": num(p, "batch_size_avg"), "storage": st,
            "vs_storage": ratio(batch_mb_s, st), "storage_p99": num(st_line, "append_p99_ms"), "vs_tcp": ratio(batch_mb_s, tcp),
            "consume_vs_produce": ratio(num(p, "consume_mb_s"), num(p, "mb_s")) if p["rate"] == "0" else float("nan"),
        })
    return rows, tcp


def fmt(x, digits=1):
    return "-" if x != x else f"{x:.{digits}f}"


def print_table(rows, tcp):
    print("| scenario | record B | parts | acks | compr. | offered rec/s | records/s | MB/s | p50 ms | p99 ms "
          "| p99.9 ms | max ms | consume MB/s | batch B | broker batch MB/s | storage MB/s | vs storage "
          "| storage p99 ms | vs TCP | consume/produce |")
    print("|" + "---|" * 20)
    for r in rows:
        print(f"| {r['label']} | {r['size']} | {r['partitions']} | {r['acks']} | {r['compression']} "
              f"| {'max' if r['rate'] == '0' else r['rate']} | {r['records_s']:.0f} | {fmt(r['mb_s'])} "
              f"| {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} | {fmt(r['p999'], 2)} | {fmt(r['max'], 2)} "
              f"| {fmt(r['consume']) if r['consume'] else '-'} | {r['batch']:.0f} | {fmt(r['batch_mb_s'])} "
              f"| {fmt(r['storage'])} | {fmt(r['vs_storage'], 2)} | {fmt(r['storage_p99'], 2)} | {fmt(r['vs_tcp'], 3)} "
              f"| {fmt(r['consume_vs_produce'], 2)} |")
    print("\nstorage MB/s and storage p99: broker/src/bin/storage_bench with the scenario's partitions and batch "
          "size, fsync group commit; closed loop (5 appends in flight per partition) for max-load rows, "
          "paced at the scenario's batches/s for offered-load rows.")
    print(f"\nLoopback TCP sink (64 KiB writes): {fmt(tcp)} MB/s. MB/s = record values; broker batch MB/s = "
          "record batches as received (broker_topic_bytes_in_total), the unit the baselines are in.")


def storage_p(lines, key):
    for s in lines.get("storage", []):
        if s.get("label") == "1k-p8-all-half":
            return s.get(key, "?")
    return "?"


def targets(rows, lines):
    by = {r["label"]: r for r in rows}
    status = []

    def add(name, ok, measured):
        status.append((name, "-" if ok is None else ("met" if ok else "NOT met"), measured))

    r = by.get("1k-p8-all")
    add("1 KiB, 8 partitions, acks=all, fsync: produce >= 70% of raw RocksDB",
        None if not r else r["vs_storage"] >= 0.7, r and f"{fmt(r['vs_storage'], 2)} of storage baseline")
    h = by.get("1k-p8-all-half")
    add("p99 produce latency at 50% of max load < 5 ms", None if not h else h["p99"] < 5,
        h and f"p99 {fmt(h['p99'], 2)} ms at {h['rate']} records/s; storage alone at that load: "
              f"p50 {storage_p(lines, 'append_p50_ms')} ms, p99 {storage_p(lines, 'append_p99_ms')} ms")
    add("consume MB/s >= produce MB/s", None if not r else r["consume"] >= r["mb_s"],
        r and f"{fmt(r['consume_vs_produce'], 2)} x produce (1k-p8-all)")
    idles = {i.get("phase", "after-fill"): i for i in lines.get("idle", [])}
    idle = idles.get("empty")
    after = idles.get("after-fill")
    add("1,000 idle partitions: < 5% of a core, < 500 MB RSS",
        None if not idle else num(idle, "cpu_percent_of_core") < 5 and num(idle, "rss_mb") < 500,
        idle and f"{idle['cpu_percent_of_core']}% of a core, {idle['rss_mb']} MB RSS"
        + (f" (right after the {after['data_gb']} GB fill, compaction still running: "
           f"{after['cpu_percent_of_core']}% of a core, {after['rss_mb']} MB RSS)" if after else ""))
    rs = lines.get("restart", [None])[0]
    add("restart with 1,000 partitions and 10 GB ready < 5 s", None if not rs else num(rs, "ready_s") < 5,
        rs and f"{rs['ready_s']} s to readable ({rs['data_gb']} GB on disk, port open {rs['port_open_s']} s"
        + (f", broker's own recovery {rs['recovered_ms']} ms" if rs.get("recovered_ms") else "") + ")")
    c = lines.get("cluster", [None])[0]
    ratio_c = num(c, "CLUSTER_RATIO") if c else float("nan")
    add("3-node cluster, RF=3, acks=all: >= 40% of single-node produce MB/s",
        None if not c else ratio_c >= 0.4,
        c and f"{fmt(ratio_c, 2)} of single node (compat/bench-cluster.sh, same run)")
    half_c = num(c, "CLUSTER_HALF_P99_MS") if c and c.get("CLUSTER_HALF_P99_MS") else None
    add("produce p99 at 50% of max load on the 3-node cluster < 10 ms",
        None if half_c is None else half_c < 10,
        half_c is not None and f"p99 {c['CLUSTER_HALF_P99_MS']} ms (p50 {c.get('CLUSTER_HALF_P50_MS')} ms, "
        f"p99.9 {c.get('CLUSTER_HALF_P999_MS')} ms) at {c.get('CLUSTER_HALF_RECORDS_S')} records/s")
    print("\n| target | status | measured |\n|---|---|---|")
    for name, ok, measured in status:
        print(f"| {name} | {ok} | {measured or 'not run'} |")


def main():
    lines = parse(sys.argv[1])
    m = lines.get("machine", [{}])[0]
    print(f"Command: `{m.get('command', '?')}`  \nMachine: {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
          f"{m.get('mem_gb', '?')} GB RAM, Linux {m.get('kernel', '?')}; commit {m.get('commit', '?')}; "
          f"{m.get('date', '?')}\n")
    rows, tcp = scenario_rows(lines)
    print_table(rows, tcp)
    targets(rows, lines)


main()
