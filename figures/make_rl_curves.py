"""paper_repro training curves (DPPO / DRPO figure style): Gaussian-smoothed (σ = 2) seed means
over the faint raw means, 95% bootstrap bands over seeds, one panel per metric.

* ``rl_main_curves.png``: PG-IS, CISPO, PPO-clip, SPO, DPPO-TV, DRPO (claims 1, 2);
* ``rl_ablations.png``: DRPO vs its |Â| ablation, Mask-DRPO and the KL / TV / K3 penalties (claims 4, 5);
* ``rl_delta.png``: DPPO-TV and DRPO across δ (claim 6);
* ``rl_anchor.png``: ratios anchored on the rollout μ vs on the recomputed old policy (MiniRL).

Reads paper_repro/results/ (run ``drpo-analysis repro`` first); writes nothing when it is empty.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.rl.matrix import load_results
from drpo_analysis.reporting.rl_report import by_label
from drpo_analysis.util.stats import bootstrap_ci

RESULTS = Path(__file__).resolve().parents[1] / "paper_repro" / "results"
PANELS = (("reward/mean", "training reward"), ("eval/greedy_acc", "held-out greedy accuracy"),
          ("shift/mean_abs", "mean |π − μ| (sampled tokens)"), ("shift/max_abs", "max |π − μ| (sampled tokens)"),
          ("entropy/mean", "entropy"), ("frac/masked", "zero-weight share (masked / clipped)"))
DASHES = ["-", "--", ":", "-."]


def _series(runs, key):
    """x [T] and values [S, T] of one metric over the seeds of a configuration."""
    if key.startswith("eval/"):
        x = np.asarray(runs[0]["eval"]["step"])
        return x, np.asarray([r["eval"][key.split("/")[1]] for r in runs], float)
    vals = np.asarray([[np.nan if v is None else v for v in r["curves"][key]] for r in runs], float)
    return np.arange(vals.shape[1]), vals


def curves_figure(groups: dict, labels, path, title):
    fig, axes = plt.subplots(2, 3, figsize=(12.5, 6.6))
    styles = {}
    for lab in labels:
        if lab not in groups:
            continue
        method = groups[lab][0]["config"]["method"]
        styles[lab] = DASHES[sum(1 for v in styles.values() if v[0] == method) % 4]
        styles[lab] = (method, styles[lab])
        for ax, (key, name) in zip(axes.flat, PANELS):
            x, v = _series(groups[lab], key)
            v = np.nan_to_num(v, nan=0.0) if key == "frac/masked" else v
            if np.isnan(v).any():
                v = np.where(np.isnan(v), np.nanmean(v, 0, keepdims=True), v)
            mean, lo, hi = bootstrap_ci(v, axis=0)
            smooth = 2.0 if len(x) > 10 else 0.0
            plotting.training_curve(x, mean, lo, hi, c=plotting.color(method), ax=ax, smooth=smooth,
                                    label=f"{lab} (n={len(groups[lab])})")
            ax.lines[-1].set_linestyle(styles[lab][1])
            ax.set_title(name)
            ax.set_xlabel("evaluation step" if key.startswith("eval/") else "training iteration")
    for key, ax in zip((k for k, _ in PANELS), axes.flat):
        if key.startswith("shift/"):
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return plotting.save(fig, path)


def main(outdir, results=RESULTS, tag: str = "") -> list[Path]:
    """Figures from ``results`` (default paper_repro/results), file names suffixed by ``tag``."""
    plotting.style()
    outdir = Path(outdir)
    main_runs, abl, delta, anchor = (load_results(results, g) for g in ("main", "ablation", "delta", "anchor"))
    if not main_runs:
        print(f"make_rl_curves: no results under {results}; run `drpo-analysis repro` first")
        return []
    g = by_label(main_runs + abl + delta + anchor)
    cfg = main_runs[0]["config"]
    setting = (f"{cfg['task']}-{cfg['task_size']}, mismatch {cfg['mismatch']}, lr {cfg['lr']:g}, "
               f"{cfg['minibatches']}×{cfg['epochs']} updates/rollout; bands: 95% bootstrap over seeds, σ=2 smoothing")
    out = [curves_figure(g, ["pg_is", "cispo", "ppo_clip", "spo", "dppo_binary_tv", "drpo"],
                         outdir / f"rl_main_curves{tag}.png", "Main methods — " + setting)]
    if abl:
        out.append(curves_figure(g, ["drpo", "drpo_no_abs_adv", "mask_drpo", "pg_kl", "pg_tv", "pg_k3", "pg_is"],
                                 outdir / f"rl_ablations{tag}.png", "DRPO ablations (paper Figs. 4, 5, 11) — " + setting))
    if delta:
        labs = ["dppo_binary_tv (delta=0.05)", "dppo_binary_tv", "dppo_binary_tv (delta=0.2)",
                "dppo_binary_tv (delta=0.4)", "drpo (delta=0.15)", "drpo (delta=1)", "drpo", "drpo (delta=50)"]
        out.append(curves_figure(g, labs, outdir / f"rl_delta{tag}.png",
                                 "δ sensitivity (DPPO paper default 0.15, DRPO paper default 12.5) — " + setting))
    if anchor:
        out.append(curves_figure(g, ["pg_is", "pg_is [anchor π_old]", "ppo_clip", "ppo_clip [anchor π_old]"],
                                 outdir / f"rl_anchor{tag}.png", "Ratio anchored on μ vs on the recomputed π_old (MiniRL) — "
                                 + setting))
    return out
