"""Where each trust region acts, by behaviour-probability bucket (claim 3), measured on the runs:
per μ bucket, the share of sampled tokens whose gradient the method zeroes (clip / mask), the mean
|r − 1| and |π − μ|, and the mean gradient weight w (DRPO Table 1 convention). Seed means with 95%
t intervals; the legend sits below the panels, a log axis only where values span a decade.
Writes ``rl_buckets.png``."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.rl.matrix import load_results
from drpo_analysis.reporting.rl_report import by_label
from drpo_analysis.rl.mismatch_fit import bucket_names
from drpo_analysis.util.stats import mean_ci

RESULTS = Path(__file__).resolve().parents[1] / "paper_repro" / "results"
METHODS = ("ppo_clip", "spo", "dppo_binary_tv", "drpo", "pg_is")
PANELS = (("masked", "share with zero gradient (clipped / masked)", False),
          ("abs_ratio_minus_1", "mean |r − 1|", True), ("abs_shift", "mean |π − μ|", True),
          ("weight", "mean gradient weight w", False))


def main(outdir, results=RESULTS, tag: str = "") -> list[Path]:
    """Figures from ``results`` (default paper_repro/results), file names suffixed by ``tag``."""
    plotting.style()
    runs = load_results(results, "main")
    if not runs:
        print(f"make_rl_buckets: no results under {results}; run `drpo-analysis repro` first")
        return []
    g = by_label(runs)
    names = bucket_names()
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.0))
    methods = [m for m in METHODS if m in g]
    width = 0.8 / len(methods)
    x = np.arange(len(names))
    for ax, (what, title, log) in zip(axes, PANELS):
        for i, m in enumerate(methods):
            vals = np.asarray([[r["buckets"].get(f"bucket/{b}/{what}/mean") for b in names] for r in g[m]], float)
            vals = np.where(np.isnan(vals), np.nanmean(vals, 0, keepdims=True), vals)
            mean, lo, hi = np.asarray([mean_ci(col, method="t") for col in np.nan_to_num(vals).T]).T
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, mean, width, color=plotting.color(m), label=m,
                   yerr=[mean - lo, hi - mean], error_kw={"lw": 0.6})
        counts = np.mean([[r["buckets"].get(f"bucket/{b}/count") or 0 for b in names] for r in g[methods[0]]], 0)
        ax.set_xticks(x, [f"{n}\n({c:.0f} tok)" for n, c in zip(names, counts)], fontsize=7)
        ax.set_xlabel("μ bucket (tokens per run)")
        ax.set_title(title)
        heights = np.asarray([b.get_height() for b in ax.patches])
        heights = heights[heights > 0]
        if log and heights.size and heights.max() / heights.min() >= 10:
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8, frameon=False)
    cfg = runs[0]["config"]
    fig.suptitle(f"Where the trust regions act, by μ bucket — {cfg['task']}-{cfg['task_size']}, mismatch "
                 f"{cfg['mismatch']}; all updates of all iterations; bars: 95% t interval over seeds", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return [plotting.save(fig, Path(outdir) / f"rl_buckets{tag}.png")]
