"""paper_repro training curves as small multiples: one column per configuration, one row per
metric, shared y axis per row, the seed mean with its 95% t band over seeds; a thin grey line in
every panel is the row's reference configuration (the first column), so nothing hides anything.
A metric gets a log axis only when its values span at least a decade.

* ``rl_gate.png``: the learning gate — the main methods without mismatch;
* ``rl_main_curves.png``: PG-IS, CISPO, PPO-clip, SPO, DPPO-TV, DRPO in the regime (claims 1, 2);
* ``rl_ablations.png``: DRPO, its |Â| ablation, Mask-DRPO and the KL / TV / K3 penalties (claims 4, 5);
* ``rl_delta.png``: DPPO-TV and DRPO across δ grids of equal log-span (claim 6).

Reads paper_repro/results/ (run ``drpo-analysis repro`` first); writes nothing when it is empty.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from drpo_analysis.reporting import plotting
from drpo_analysis.reporting.rl_report import by_label, delta_label
from drpo_analysis.rl.matrix import load_results

RESULTS = Path(__file__).resolve().parents[1] / "paper_repro" / "results"
MATRIX = RESULTS.parent / "matrix.json"  # the committed δ grids
ROWS = (("reward/mean", "training reward"), ("eval/sampled_acc", "held-out sampled acc"),
        ("shift/mean_abs", "mean |π − μ|"))
BOUNDED = ("reward/mean", "eval/sampled_acc")
MAIN = ["pg_is", "cispo", "ppo_clip", "spo", "dppo_binary_tv", "drpo"]


def _series(runs, key):
    """x [T] and values [S, T] of one metric over the seeds of a configuration."""
    if key.startswith("eval/"):
        x = np.asarray(runs[0]["eval"]["step"])
        return x, np.asarray([r["eval"][key.split("/")[1]] for r in runs], float)
    vals = np.asarray([[np.nan if v is None else v for v in r["curves"][key]] for r in runs], float)
    return np.arange(vals.shape[1]), vals


def _mean_band(v):
    """Seed mean and 95% t band, [T] each (no band with one seed)."""
    m = np.nanmean(v, 0)
    n = np.sum(~np.isnan(v), 0)
    if v.shape[0] < 2:
        return m, m, m
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * np.nanstd(v, 0, ddof=1) / np.sqrt(n)
    return m, m - half, m + half


def curves_figure(groups: dict, labels, path, title):
    labels = [lab for lab in labels if lab in groups]  # no empty panels
    if not labels:
        return None
    rows = [(k, name) for k, name in ROWS if any(_series(groups[lab], k)[1].size for lab in labels)]
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(2.3 * len(labels) + 0.6, 2.0 * len(rows) + 0.8),
                             sharey="row", sharex="row", squeeze=False)
    for i, (key, name) in enumerate(rows):
        values = np.concatenate([_series(groups[lab], key)[1].ravel() for lab in labels])
        values = values[np.isfinite(values) & (values > 0)]
        log = values.size and key.startswith("shift/") and values.max() / values.min() >= 10
        ref_x, ref_v = _series(groups[labels[0]], key)
        for j, lab in enumerate(labels):
            ax = axes[i, j]
            x, v = _series(groups[lab], key)
            m, lo, hi = _mean_band(v)
            if key in BOUNDED:  # rewards and accuracies lie in [0, 1]
                lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
            elif key.startswith("shift/"):
                lo = np.maximum(lo, 0)
            if j:
                ax.plot(ref_x, np.nanmean(ref_v, 0), color="0.6", lw=0.8, zorder=1)
            c = plotting.color(groups[lab][0]["config"]["method"])
            ax.fill_between(x, lo, hi, color=c, alpha=0.25, lw=0, zorder=2)
            ax.plot(x, m, color=c, lw=1.4, zorder=3)
            if log:
                ax.set_yscale("log")
            if i == 0:
                ax.set_title(f"{lab}\n(n={len(groups[lab])})", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            if i == len(rows) - 1:
                ax.set_xlabel("iteration", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(title + f"\nband: 95% t interval over seeds; grey: {labels[0]} (seed mean)", fontsize=9)
    fig.tight_layout()
    return plotting.save(fig, path)


def main(outdir, results=RESULTS, tag: str = "") -> list[Path]:
    """Figures from ``results`` (default paper_repro/results), file names suffixed by ``tag``."""
    plotting.style()
    outdir = Path(outdir)
    gate, main_runs, abl, delta = (load_results(results, grp) for grp in ("gate", "main", "ablation", "delta"))
    out = []
    if gate:
        out.append(curves_figure(by_label(gate), MAIN, outdir / f"rl_gate{tag}.png",
                                 "Learning gate: the main methods without mismatch"))
    if not main_runs:
        print(f"make_rl_curves: no matrix results under {results}; run `drpo-analysis repro` first")
        return [p for p in out if p]
    g = by_label(main_runs + abl + delta)
    cfg = main_runs[0]["config"]
    setting = f"mismatch {cfg['mismatch']}, lr {cfg['lr']:g}, {cfg['minibatches']}×{cfg['epochs']} updates/rollout"
    out.append(curves_figure(g, MAIN, outdir / f"rl_main_curves{tag}.png", "Main methods — " + setting))
    if abl:
        out.append(curves_figure(g, ["drpo", "drpo_no_abs_adv", "mask_drpo", "pg_kl", "pg_tv", "pg_k3"],
                                 outdir / f"rl_ablations{tag}.png", "DRPO ablations (Figs. 4, 5, 11) — " + setting))
    if delta:
        grid = json.loads(MATRIX.read_text())["primary"]["6"]
        labs = [delta_label(m, d) for m in ("dppo_binary_tv", "drpo") for d in grid[m]]
        out.append(curves_figure(g, labs, outdir / f"rl_delta{tag}.png",
                                 "δ sensitivity, equal log-span 9× (DPPO default 0.15, DRPO default 12.5) — " + setting))
    return [p for p in out if p]
