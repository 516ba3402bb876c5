#!/usr/bin/env python3
"""Warm time to first token by tier (engine_tier_bench CSVs): a markdown table and
an SVG plot, standard library only.

  plot_tier_ttft.py A.csv [B.csv ...] --markdown OUT.md --svg OUT.svg
                    [--load-before "a b c"] [--load-after "a b c"]

Each cell is the median over the repetitions with the range (min–max); the cold
time to first token is that of the same prompt in each tier's engine (one cold
request per tier), and the speedup is cold median / warm median.
"""
import argparse
import csv
import math
import statistics
from collections import defaultdict

SERIES = [  # (tier, variant, label, colour)
    ("*", "cold", "cold prefill", "#7f7f7f"),
    ("ram", "warm", "ram", "#1f77b4"),
    ("ram_file", "warm", "ram_file (/dev/shm)", "#17becf"),
    ("disk", "warm", "disk (page cache warm)", "#2ca02c"),
    ("disk", "warm_dropped", "disk (not in page cache)", "#98df8a"),
    ("remote", "warm", "remote (Redis, loopback)", "#d62728"),
]


def load(paths):
    """{model: {(tier, variant, n): [ttft_ms...]}}, {model: {n: row_bytes}}, sizes."""
    data, rows, sizes = defaultdict(lambda: defaultdict(list)), defaultdict(dict), defaultdict(set)
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                m, n = r["model"], int(r["prompt_tokens"])
                tier = "*" if r["variant"] == "cold" else r["tier"]
                data[m][(tier, r["variant"], n)].append(float(r["ttft_ms"]))
                sizes[m].add(n)
                if int(r["row_bytes"]):
                    rows[m][n] = max(rows[m].get(n, 0), int(r["row_bytes"]))
    return data, rows, {m: sorted(s) for m, s in sizes.items()}


def fmt_ms(ms, unit=True):
    """ms as "1.23 s", "12.3 ms" or "0.12 ms" (without the unit when unit is False)."""
    if ms >= 1000:
        v, u = f"{ms / 1000:.2f}", " s"
    else:
        v, u = (f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"), " ms"
    return v + u if unit else v


def cell(v, cold=None):
    if not v:
        return "—"
    med = statistics.median(v)
    scale = 1000 if med >= 1000 else 1  # the range in the median's unit
    rng = "–".join(f"{x / scale:.2f}" if scale > 1 or x < 10 else f"{x:.1f}" for x in (min(v), max(v)))
    s = f"{fmt_ms(med)} ({rng})"
    return s + (f", **{cold / med:.0f}×**" if cold else "")


def markdown(data, rows, sizes, load_before, load_after):
    out = ["| model | prompt tokens | row | " + " | ".join(s[2] for s in SERIES) + " |",
           "|---|---:|---:|" + "---:|" * len(SERIES)]
    for m in data:
        for n in sizes[m]:
            cold_v = data[m][("*", "cold", n)]
            cold = statistics.median(cold_v) if cold_v else None
            cells = [cell(cold_v)] + [cell(data[m][(t, v, n)], cold) for t, v, _, _ in SERIES[1:]]
            mib = rows[m].get(n, 0) / (1 << 20)
            out.append(f"| {m} | {n} | {mib:.1f} MiB | " + " | ".join(cells) + " |")
    reps = max((len(v) for d in data.values() for (t, var, n), v in d.items() if var != "cold"), default=0)
    colds = max((len(v) for d in data.values() for (t, var, n), v in d.items() if var == "cold"), default=0)
    out.append("")
    out.append(f"Each cell: median (min–max) time to first token; warm: {reps} requests per tier, cold: one request "
               f"per tier's engine ({colds} in all); bold: cold median ÷ warm median.")
    if load_before or load_after:
        out.append(f"Load average (1, 5, 15 min): {load_before} before, {load_after} after.")
    return "\n".join(out) + "\n"


def svg(data, sizes):
    models = list(data)
    pw, ph, ml, mt, mb = 430, 300, 62, 76, 64
    width, height = max(ml + len(models) * (pw + 30), 800), mt + ph + mb
    vals = [x for d in data.values() for v in d.values() for x in v]
    lo = 10 ** math.floor(math.log10(max(min(vals), 1e-3)))
    hi = 10 ** math.ceil(math.log10(max(vals)))

    def y(ms):
        return mt + ph - ph * (math.log10(max(ms, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="15">'
         'Time to first token: cold prefill vs a warm hit served by each tier</text>',
         f'<text x="{width - 8}" y="{mt - 10}" text-anchor="end" fill="#555">log scale; bars: median, '
         'whiskers: min–max</text>']
    for k, (_, _, label, colour) in enumerate(SERIES):  # legend
        lx, ly = ml + (k % 3) * 230, 30 + (k // 3) * 16
        e.append(f'<rect x="{lx}" y="{ly}" width="12" height="10" fill="{colour}"/>'
                 f'<text x="{lx + 16}" y="{ly + 9}">{label}</text>')
    for i, m in enumerate(models):
        x0 = ml + i * (pw + 30)
        e.append(f'<rect x="{x0}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        e.append(f'<text x="{x0 + pw / 2}" y="{mt + ph + 44}" text-anchor="middle">{m}: prompt tokens</text>')
        d = 0
        while lo * 10 ** d <= hi * 1.0001:  # decades
            ms = lo * 10 ** d
            e.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" stroke="#ddd"/>')
            if i == 0:
                label = f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"
                e.append(f'<text x="{x0 - 6}" y="{y(ms) + 4:.1f}" text-anchor="end">{label}</text>')
            d += 1
        groups = sizes[m]
        gw = pw / len(groups)
        bw = gw * 0.8 / len(SERIES)
        for g, n in enumerate(groups):
            gx = x0 + g * gw + gw * 0.1
            e.append(f'<text x="{x0 + g * gw + gw / 2}" y="{mt + ph + 18}" text-anchor="middle">{n}</text>')
            for k, (t, v, label, colour) in enumerate(SERIES):
                vs = data[m].get((t, v, n), [])
                if not vs:
                    continue
                med, bx = statistics.median(vs), gx + k * bw
                e.append(f'<rect x="{bx:.1f}" y="{y(med):.1f}" width="{bw * 0.9:.1f}" '
                         f'height="{mt + ph - y(med):.1f}" fill="{colour}"><title>{m}, {n} tokens, {label}: '
                         f'{fmt_ms(med)}</title></rect>')
                cx = bx + bw * 0.45
                e.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(min(vs)):.1f}" y2="{y(max(vs)):.1f}" '
                         'stroke="black"/>')
    e.append("</svg>")
    return "\n".join(e) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    a = ap.parse_args()
    data, rows, sizes = load(a.csv)
    md = markdown(data, rows, sizes, a.load_before, a.load_after)
    with open(a.markdown, "w") as f:
        f.write(md)
    with open(a.svg, "w") as f:
        f.write(svg(data, sizes))
    print(md)


if __name__ == "__main__":
    main()
