#!/usr/bin/env python3
"""Plots engine_bench's CSV files (written by scripts/bench-engine) into one PNG.

    python3 bench/plot_engine.py DIR [--out engine.png]

DIR holds engine_ttft.csv, engine_restore.csv and engine_chat.csv; panels whose
file is missing or empty are left out.
"""
import argparse
import csv
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ttft_panel(ax, rows):
    sizes = sorted({int(r["prompt_tokens"]) for r in rows})
    series = [("cold", "cold (prefill)", "#c0392b"), ("warm", "warm, page cache warm", "#2471a3"),
              ("warm_dropped", "warm, file dropped from page cache", "#7fb3d5")]
    width = 0.26
    for i, (variant, label, color) in enumerate(series):
        vals = []
        for n in sizes:
            v = [float(r["ttft_ms"]) / 1000 for r in rows if int(r["prompt_tokens"]) == n and r["variant"] == variant]
            vals.append(statistics.median(v) if v else 0)
        xs = [k + (i - 1) * width for k in range(len(sizes))]
        bars = ax.bar(xs, vals, width, label=label, color=color)
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.1f} s" if v >= 1 else f"{v * 1000:.0f} ms", (b.get_x() + b.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.set_xlabel("prompt tokens")
    ax.set_ylabel("time to first token (s, log)")
    ax.set_title("Time to first token: cold vs warm (disk)")
    ax.legend(fontsize=7, loc="upper left")


def restore_panel(ax, rows):
    sizes = [int(r["prompt_tokens"]) for r in rows]
    series = [("kvc_total_ms", "kvc: Cache::load (CRC+key) + set_data", "#2471a3"),
              ("llama_load_file_ms", "llama_state_seq_load_file", "#e67e22"),
              ("set_data_floor_ms", "set_data from memory (floor)", "#7f8c8d"),
              ("kvc_total_dropped_ms", "kvc, not in page cache", "#7fb3d5"),
              ("llama_load_file_dropped_ms", "llama load_file, not in page cache", "#f5cba7")]
    width = 0.16
    for i, (key, label, color) in enumerate(series):
        vals = [float(r[key]) for r in rows]
        xs = [k + (i - 2) * width for k in range(len(sizes))]
        ax.bar(xs, vals, width, label=label, color=color)
    ax.set_xticks(range(len(sizes)),
                  [f"{n}\n({float(r['state_bytes']) / 2**20:.0f} MiB)" for n, r in zip(sizes, rows)])
    ax.set_xlabel("prompt tokens (state size)")
    ax.set_ylabel("ms (median)")
    ax.set_title("Restoring the same state")
    ax.legend(fontsize=7, loc="upper left")


def chat_panel(ax, rows):
    configs = []
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
    first = [r for r in rows if r["config"] == configs[0]]
    turns = [int(r["turn"]) for r in first]
    ax.plot(turns, [int(r["prompt_tokens"]) for r in first], "k--", label="prompt tokens", linewidth=1)
    styles = ["o-", "s-", "^-", "d-"]
    for k, name in enumerate(configs):
        pts = [r for r in rows if r["config"] == name]
        ax.plot([int(r["turn"]) for r in pts], [int(r["cached_tokens"]) for r in pts], styles[k % 4],
                label=name, markersize=4)
    ax.set_xlabel("turn (each resends the whole conversation)")
    ax.set_ylabel("tokens")
    ax.set_xticks(turns)
    ax.set_title("Stateless chat: tokens served from the cache")
    ax.legend(fontsize=7, loc="upper left")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--out", default=None)
    p.add_argument("--title", default=None)
    a = p.parse_args()
    ttft = read(os.path.join(a.dir, "engine_ttft.csv"))
    restore = read(os.path.join(a.dir, "engine_restore.csv"))
    chat = read(os.path.join(a.dir, "engine_chat.csv"))
    panels = [(f, d) for f, d in ((ttft_panel, ttft), (restore_panel, restore), (chat_panel, chat)) if d]
    if not panels:
        print("plot_engine.py: no data in " + a.dir, file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    if len(panels) == 1:
        axes = [axes]
    for ax, (f, d) in zip(axes, panels):
        f(ax, d)
        ax.grid(axis="y", alpha=0.3)
    if a.title:
        fig.suptitle(a.title, fontsize=9)
    fig.tight_layout()
    out = a.out or os.path.join(a.dir, "engine.png")
    fig.savefig(out, dpi=80)
    print("plot_engine.py: wrote " + out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
