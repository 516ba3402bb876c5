#!/usr/bin/env python3
"""Combined summary of kvc Google Benchmark JSON outputs.

    bench/summarize.py RESULT.json... [--markdown OUT.md]

Prints one Markdown table per benchmark binary: name, time per operation,
throughput and, where a baseline pair exists, "vs baseline".

Pairs are defined by naming convention: a benchmark BM_<X>Baseline<Suffix>/<args>
(Suffix may be empty) is a baseline of BM_<X>/<args> with exactly the same
argument string. The ratio is  baseline time / kvc time  on the same clock, so
> 1 means kvc is faster than its baseline and < 1 means it is slower (for I/O the
raw baseline is a floor: the ratio is the share of raw speed kvc keeps).

With --benchmark_repetitions the JSON holds aggregates and the table shows medians.

Time per op is the clock Google Benchmark used for the rates: wall time for
benchmarks run with UseRealTime/UseManualTime (names containing /real_time or
/manual_time), CPU time of the benchmark thread otherwise.
"""
import argparse
import json
import os
import sys

# What an "item" is, by benchmark family (items_per_second).
ITEM_UNITS = [
    ("BM_StrideWalkHashOnly", "keys/s"),
    ("BM_StrideWalk", "probes/s"),
    ("BM_ScanOpen", "files/s"),
    ("BM_AnyPrefix", "lookups/s"),
    ("", "ops/s"),
]
# User counters worth showing next to a row.
SHOWN_COUNTERS = ["cpu_ms", "probes", "keys", "found", "rows", "common_prefix", "boundary"]


def fmt_time(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.3f} s"


def fmt_rate(v, unit):
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.2f} {prefix}{unit}"
    return f"{v:.2f} {unit}"


def fmt_bytes_rate(v):
    if v >= 1e9:
        return f"{v / 1e9:.2f} GB/s"
    if v >= 1e6:
        return f"{v / 1e6:.1f} MB/s"
    return f"{v / 1e3:.1f} kB/s"


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def split_name(name):
    """'BM_FooBaselineX/a:1/real_time' -> ('BM_Foo', True, 'BaselineX', 'a:1/real_time')."""
    head, _, rest = name.partition("/")
    i = head.find("Baseline")
    if i > 0:
        return head[:i], True, head[i:], rest
    return head, False, "", rest


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = []
    has_aggregates = any(b.get("run_type") == "aggregate" for b in data.get("benchmarks", []))
    for b in data.get("benchmarks", []):
        if has_aggregates:
            if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
                continue
            name = b["run_name"]
        else:
            name = b["name"]
        wall = "/real_time" in name or "/manual_time" in name
        t = b.get("real_time" if wall else "cpu_time", 0.0)
        run = {
            "name": name,
            "error": b.get("error_message") if b.get("error_occurred") else None,
            "ns": to_ns(t, b.get("time_unit", "ns")),
            "clock": "wall" if wall else "cpu",
            "bytes_per_second": b.get("bytes_per_second"),
            "items_per_second": b.get("items_per_second"),
            "iterations": b.get("iterations"),
            "counters": {k: b[k] for k in SHOWN_COUNTERS if k in b},
        }
        runs.append(run)
    return data.get("context", {}), runs


def table(runs):
    by_key = {}
    for r in runs:
        base, is_baseline, tag, rest = split_name(r["name"])
        by_key.setdefault((base, rest), []).append((is_baseline, tag, r))

    lines = [
        "| benchmark | time/op | clock | throughput | vs baseline | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        base, is_baseline, tag, rest = split_name(r["name"])
        if r["error"]:
            lines.append(f"| {r['name']} | — | — | — | — | ERROR: {r['error']} |")
            continue
        thr = []
        if r["bytes_per_second"]:
            thr.append(fmt_bytes_rate(r["bytes_per_second"]))
        if r["items_per_second"]:
            unit = next(u for p, u in ITEM_UNITS if r["name"].startswith(p))
            thr.append(fmt_rate(r["items_per_second"], unit))
        vs = ""
        if is_baseline:
            vs = "*(baseline)*"
        else:
            ratios = []
            for b_is, b_tag, b in by_key.get((base, rest), []):
                if b_is and not b["error"] and r["ns"] > 0:
                    ratio = b["ns"] / r["ns"]
                    label = "" if b_tag == "Baseline" else f" vs {b_tag[len('Baseline'):]}"
                    ratios.append(f"**{ratio:.2f}×**{label}" if ratio >= 10 else f"{ratio:.2f}×{label}")
            vs = ", ".join(ratios) or "—"
        notes = ", ".join(f"{k}={v:.3g}" if k == "cpu_ms" else f"{k}={v:g}" for k, v in r["counters"].items())
        lines.append(
            f"| {r['name']} | {fmt_time(r['ns'])} | {r['clock']} | {' · '.join(thr)} | {vs} | {notes} |"
        )
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files")
    ap.add_argument("--markdown", help="also write the summary to this file")
    args = ap.parse_args()

    out = []
    first_context = None
    for path in args.json:
        try:
            context, runs = load(path)
        except (OSError, ValueError) as e:
            out += [f"## {os.path.basename(path)}", "", f"unreadable: {e}", ""]
            continue
        first_context = first_context or context
        title = os.path.splitext(os.path.basename(path))[0]
        out += [f"## {title}", ""]
        out += table(runs) if runs else ["(no benchmarks ran)"]
        out.append("")
    if first_context:
        c = first_context
        caches = ", ".join(
            f"L{x.get('level')}{'d' if x.get('type') == 'Data' else 'i' if x.get('type') == 'Instruction' else ''} "
            f"{x.get('size', 0) // 1024} KiB"
            for x in c.get("caches", [])
        )
        header = [
            "# kvc benchmark summary",
            "",
            f"{c.get('date', '?')} · host {c.get('host_name', '?')} · {c.get('num_cpus', '?')} CPUs at "
            f"{c.get('mhz_per_cpu', '?')} MHz · load average {', '.join(f'{x:.2f}' for x in c.get('load_avg', []))}"
            f" · caches {caches}",
            "",
            "vs baseline = baseline time ÷ kvc time on the same clock (> 1: kvc faster; < 1: kvc slower).",
            "",
        ]
        out = header + out
    text = "\n".join(out)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
