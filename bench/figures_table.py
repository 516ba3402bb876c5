#!/usr/bin/env python3
"""The issue-12 figures in one table (scripts/bench --all).

    bench/figures_table.py --engine engine_figures.json [--lookup LOOKUP.json]
                           [--scan SCAN.json] [--load-before "..."] [--load-after "..."]
                           [--markdown OUT.md]

Each row: what is measured, kvc's figure, its baseline measured in the same run,
the ratio, the goal and whether it is met. Inputs: engine_bench --figures's
engine_figures.json (P1, P2, P3, save, P8, P9) and the Google Benchmark JSON of
kvc_lookup_bench (P5: BM_IndexLease, BM_IndexLeaseBaseline, BM_CacheLease, BM_SharedRowFloor) and
kvc_scan_bench (P7: BM_ScanOpen, BM_ScanOpenBaseline). A missing input leaves its
rows out. The load averages decide the "idle" note: a run is idle when the 1-minute
load stays below 0.5 before and after.
"""
import argparse
import json
import sys


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return 0.0
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def gbench(path):
    """name -> run dict (medians when the JSON holds aggregates)."""
    with open(path) as f:
        data = json.load(f)
    out = {}
    aggregates = any(b.get("run_type") == "aggregate" for b in data.get("benchmarks", []))
    for b in data.get("benchmarks", []):
        if aggregates:
            if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
                continue
            name = b["run_name"]
        else:
            name = b["name"]
        if b.get("error_occurred"):
            continue
        out[name] = b
    return out


def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def find(runs, prefix, threads=None):
    for name, b in runs.items():
        head = name.split("/")[0]
        if head != prefix:
            continue
        if threads is not None and f"threads:{threads}" not in name:
            continue
        return b
    return None


def resolved(ratios, goal, met):
    """`met`, unless the ratios spread wider than the goal: then the run cannot tell."""
    if len(ratios) > 1 and max(ratios) - min(ratios) > 2 * goal:
        return f"unresolved: pairs spread {100.0 * (max(ratios) - min(ratios)):.1f} %"
    return met


def fmt_ms(v):
    return f"{v:.1f} ms" if v >= 1 else f"{v:.3f} ms"


def fmt_rate(v):
    return f"{v / 1e6:.2f} M/s"


def rows_for(engine, lookup, scan):
    rows = []  # (id, what, kvc, baseline, ratio, goal, met)
    if engine:
        p1 = engine["p1"]
        if p1.get("prompt_tokens"):
            cold, warm = p1["cold_ttft_ms"], p1["warm_ttft_ms"]
            q = cold / warm if warm > 0 else 0
            how = "no decode" if p1.get("warm_logits_from_cache") else f"{p1['warm_prefilled_tokens']} token(s) decoded"
            rows.append(("P1", f"warm / cold time to first token, {p1['prompt_tokens']} tokens ({how}; "
                               f"restore {fmt_ms(p1['warm_restore_ms'])})",
                         fmt_ms(warm), fmt_ms(cold), f"1/{q:.0f}", "≤ 1/1000", q >= 1000))
        r = engine["restore"]
        if r.get("state_bytes"):
            mib = r["state_bytes"] / (1 << 20)
            k, l, f = r["kvc_restore_ms"], r["llama_load_file_ms"], r["set_data_floor_ms"]
            rows.append(("P2", f"kvc restore (load {fmt_ms(r['kvc_load_ms'])} + set_data {fmt_ms(r['kvc_set_ms'])}) "
                               f"vs llama_state_seq_load_file, {mib:.1f} MiB, page cache",
                         fmt_ms(k), fmt_ms(l), f"{k / l:.2f}×", "≤ 1.0", k <= l))
            # P3: a RAM-tier hit (checkout + load, no read and no CRC, + set_data);
            # older figures without it: the disk-tier restore.
            ram = r.get("kvc_ram_restore_ms") or 0
            k3, how = (ram, "RAM-tier hit") if ram > 0 else (k, "disk-tier")
            rows.append(("P3", f"kvc restore ({how}: checkout + load + set_data) vs set_data from memory",
                         fmt_ms(k3), fmt_ms(f), f"{k3 / f:.2f}×", "≤ 1.5", k3 <= 1.5 * f))
        s = engine["save"]
        if s.get("state_bytes"):
            e, g = s["snapshot_engine_ms"], s["get_data_ready_ms"]
            rows.append(("save", f"snapshot on the decode thread vs one get_data into a ready buffer "
                                 f"(get_size dry run avoided: {fmt_ms(s['get_size_ms'])})",
                         fmt_ms(e), fmt_ms(g), f"{e / g:.2f}×", "≤ 1.2", e <= 1.2 * g))
        if s.get("cold_run_saves"):
            rows.append(("save", f"decode loop blocked per save, cold runs ({s['cold_run_saves']} saves, "
                                 f"longest {fmt_ms(s['cold_run_blocked_max_ms'])}, "
                                 f"{s['cold_run_state_size_dry_runs']} get_size dry runs); baseline: one get_data",
                         f"{fmt_ms(s['cold_run_blocked_ms'])} (CPU {fmt_ms(s['cold_run_blocked_cpu_ms'])})",
                         fmt_ms(s.get("get_data_ready_ms", 0)), "", "reported", None))
        c = engine["chat"]
        if c.get("turns"):
            reusable, cached = c["reusable_tokens"], c["cached_tokens_after_first_turn"]
            share = 100.0 * cached / reusable if reusable else 0
            rows.append(("P8", f"{c['turns']}-turn stateless chat: prompt tokens from the cache after turn 1, "
                               f"of the reusable (previous prompt + reply); of all prompt tokens: "
                               f"{c['cached_tokens']} of {c['prompt_tokens']} "
                               f"({100.0 * c['cached_tokens'] / max(c['prompt_tokens'], 1):.1f} %)",
                         f"{cached}", f"{reusable}", f"{share:.2f} %", "≥ 99 %", share >= 99.0))
        m = engine.get("miss", {})
        if m.get("ttft_on_ms"):
            on, off = median(m["ttft_on_ms"]), median(m["ttft_off_ms"])
            # Each repetition ran its requests back to back: the median of the
            # repetitions' ratios cancels most of a drifting load; the medians of each
            # side are shown for reference. off'/off (two cache-off requests) is the
            # machine's own noise on such a ratio.
            def ratios(a, b):
                return [x / y for x, y in zip(m.get(a, []), m.get(b, [])) if y > 0]

            def pct(v):
                return f"{100.0 * (v - 1.0):+.1f} %"

            pairs = ratios("ttft_on_ms", "ttft_off_ms")
            noise = ratios("ttft_off_again_ms", "ttft_off_ms")
            diff = 100.0 * (median(pairs) - 1.0)
            direct = 100.0 * (m["lookup_ms"] + m["save_blocked_ms"]) / off if off > 0 else 0
            noise_note = (f"; off'/off, the machine's noise: median {pct(median(noise))} of "
                          f"{', '.join(pct(p) for p in noise)}" if noise else "")
            rows.append(("P9", f"miss path, {m['prompt_tokens']} tokens, cache on vs off: TTFT, median of "
                               f"{m['pairs']} interleaved pairs' ratios (pairs: "
                               f"{', '.join(pct(p) for p in pairs)}{noise_note}); on the request path "
                               f"lookups {fmt_ms(m['lookup_ms'])} + save snapshots {fmt_ms(m['save_blocked_ms'])} "
                               f"(CPU {fmt_ms(m.get('save_blocked_cpu_ms', 0))}) = {direct:.2f} % of the TTFT",
                         fmt_ms(on), fmt_ms(off), f"{diff:+.2f} %", "< 1 %",
                         resolved(pairs, 0.01, diff < 1.0)))
            cpu = ratios("cpu_on_ms", "cpu_off_ms")
            if cpu and m.get("cpu_off_again_ms"):
                cpu_noise = ratios("cpu_off_again_ms", "cpu_off_ms")
                cdiff = 100.0 * (median(cpu) - 1.0)
                rows.append(("P9", f"miss path, CPU work of the whole process per request until the writer pool "
                                   f"is idle (the cold save's write included), on vs off: median of pairs "
                                   f"({', '.join(pct(p) for p in cpu)}; off'/off: "
                                   f"{', '.join(pct(p) for p in cpu_noise)})",
                             fmt_ms(median(m["cpu_on_ms"])), fmt_ms(median(m["cpu_off_ms"])), f"{cdiff:+.2f} %",
                             "< 1 %", resolved(cpu, 0.01, cdiff < 1.0)))
    if lookup:
        for threads in (1, 2):
            i = find(lookup, "BM_IndexLease", threads)
            b = find(lookup, "BM_IndexLeaseBaseline", threads)
            if i and b:
                ri, rb = i["items_per_second"], b["items_per_second"]
                rows.append(("P5", f"lease checkout + release, Index, {threads} thread(s), vs a naive single-mutex map",
                             fmt_rate(ri), fmt_rate(rb), f"{ri / rb:.2f}×", "≥ 10 M/s", ri >= 10e6))
        c1 = find(lookup, "BM_CacheLease", 1)
        if c1:
            rows.append(("P5", "lease checkout + release, Cache, 1 thread", fmt_rate(c1["items_per_second"]), "", "",
                         "≥ 10 M/s", c1["items_per_second"] >= 10e6))
        i1, i2 = find(lookup, "BM_IndexLease", 1), find(lookup, "BM_IndexLease", 2)
        f1, f2 = find(lookup, "BM_SharedRowFloor", 1), find(lookup, "BM_SharedRowFloor", 2)
        if i1 and i2:
            ratio = i2["items_per_second"] / i1["items_per_second"]
            what = "Index lease, 2 threads vs 1 thread"
            met = ratio > 1
            if f1 and f2:
                floor = f2["items_per_second"] / f1["items_per_second"]
                what += (f"; the machine's floor, 2 threads only incrementing and decrementing the same rows' "
                         f"counters: {fmt_rate(f2['items_per_second'])} vs {fmt_rate(f1['items_per_second'])} "
                         f"on 1 thread, {floor:.2f}×")
                if not met and floor <= 1:
                    met = "no: the machine's floor does not scale either"
            rows.append(("P5", what, fmt_rate(i2["items_per_second"]), fmt_rate(i1["items_per_second"]),
                         f"{ratio:.2f}×", "> 1", met))
    if scan:
        k, b = find(scan, "BM_ScanOpen"), find(scan, "BM_ScanOpenBaseline")
        if k and b:
            rows.append(("P7", "start-up scan, 10 000 rows, warm page cache, vs raw readdir + 4 KiB reads",
                         fmt_ms(ms(k)), fmt_ms(ms(b)), f"{ms(k) / ms(b):.2f}×", "≤ 1.35× (≤ 100 ms)",
                         ms(k) <= 1.35 * ms(b)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine")
    ap.add_argument("--lookup")
    ap.add_argument("--scan")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--markdown")
    a = ap.parse_args()

    def read(path, f):
        if not path:
            return None
        try:
            return f(path)
        except (OSError, ValueError, KeyError) as e:
            print(f"figures_table: cannot read {path}: {e}", file=sys.stderr)
            return None

    engine = read(a.engine, lambda p: json.load(open(p)))
    lookup = read(a.lookup, gbench)
    scan = read(a.scan, gbench)
    rows = rows_for(engine, lookup, scan)

    def load1(s):
        try:
            return float(s.split()[0])
        except (IndexError, ValueError):
            return None

    lb, la = load1(a.load_before), load1(a.load_after)
    idle = lb is not None and la is not None and lb < 0.5 and la < 0.5
    lines = []
    head = "Load average (1, 5, 15 min): before " + (a.load_before or "?") + ", after " + (a.load_after or "?")
    if engine:
        head += f"; engine run {engine.get('load_start', '?')} → {engine.get('load_end', '?')}"
        head += f"; {engine.get('machine', '')}, model {engine.get('model', '')}, {engine.get('threads', '?')} threads"
    lines.append(head + ".")
    lines.append("The machine was idle (load < 0.5)." if idle else
                 "**The machine was not idle (1-minute load ≥ 0.5): timings are inflated and noisy.**")
    lines.append("")
    lines.append("| | what | kvc | baseline (same run) | ratio | goal | met |")
    lines.append("|---|---|---:|---:|---:|---|---|")
    for pid, what, kvc, base, ratio, goal, met in rows:
        mark = "" if met is None else met if isinstance(met, str) else ("yes" if met else "**no**")
        lines.append(f"| {pid} | {what} | {kvc} | {base} | {ratio} | {goal} | {mark} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
