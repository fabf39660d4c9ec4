"""Softmax-policy RL dynamics per method (drpo_analysis.sim.dynamics), with bootstrap bands.

Setting (stated in every title): V = 256 long-tailed vocabulary, 8 prompts × 4-token responses,
8 responses per prompt, all-correct verifiable reward, 4 gradient steps per rollout, shared
parameters (d = 8, so updates interfere across contexts as through an LLM's weights), behaviour
policy = stale parameters + Gaussian logit noise. 8 seeds; bands are 95% percentile-bootstrap
intervals of the seed mean (scipy.stats.bootstrap), curves Gaussian-smoothed with σ = 2 as DPPO.

* ``sim_dynamics_curves.png``: expected reward, max |π − μ| of sampled tokens, TV(μ, π), entropy;
* ``sim_stability_reward.png`` / ``sim_stability_collapse.png``: final expected reward and
  collapse rate over learning rate × (staleness, mismatch σ), one heatmap per method;
* ``sim_delta_sensitivity.png``: DPPO-TV δ and DRPO δ (papers' 0.15 / 0.2 and 12.5 included);
* ``sim_ablations.png``: DRPO against its |Â| ablation, Mask-DRPO and the KL / TV / K3 penalties.

Sweep results are cached as JSON lines in ``data/`` beside the PNGs: a rerun resumes and only
computes what is missing (delete the files to recompute).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.sim import dynamics as sd
from drpo_analysis.util import io
from drpo_analysis.util.stats import bootstrap_ci
from drpo_analysis.sim.vocab import Vocabulary

MAIN = ("pg_is", "cispo", "ppo_clip", "dppo_binary_tv", "spo", "drpo", "drpo:delta=0.15")
# Mismatches are spelt NAME:VALUE here (the grammar reads it as NAME=VALUE) because the committed
# sweep records in figures/data/ are keyed by these exact settings strings.
BASE = sd.DynamicsSettings(methods=MAIN, seeds=8, prompts=8, length=4, group=8,
                           vocab=Vocabulary(V=256), steps=300, updates=4, lr=5.0, staleness=4,
                           mismatch="noise:0.3", shared_dim=8, seed=0)
LRS = (1.0, 5.0, 20.0)
COLS = ((0, "noise:0.3"), (4, "noise:0.3"), (0, "noise:1.0"), (4, "noise:1.0"))
DPPO_DELTAS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
DRPO_DELTAS = (0.05, 0.15, 0.2, 0.5, 1.0, 12.5)
ABLATIONS = ("pg_is", "drpo", "drpo_no_abs_adv", "mask_drpo", "pg_kl", "pg_tv", "pg_k3")


def _label(spec: str) -> str:
    return spec.replace(":delta=", " δ=").replace("delta_low=", "δ=").split(",delta_high")[0]


def _color(spec: str) -> str:
    return plotting.color(spec.split(":")[0])


def curves_figure(rec, path):
    steps = np.arange(len(rec["curves"]["reward_pi"]))
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.6), layout="constrained")
    names = {"reward_pi": "expected reward under π", "shift_max": "max |π − μ| (sampled tokens)",
             "tv": "TV(μ, π), full vocabulary", "entropy": "entropy of π (nats)"}
    styles = ["-", "-", "-", "-", "-", "-", "--"]
    for ax, (metric, title) in zip(axes.flat, names.items()):
        x = np.asarray(rec["curves"][metric])                           # [steps, M, S]
        mean, lo, hi = bootstrap_ci(x, axis=-1)
        for i, m in enumerate(rec["methods"]):
            plotting.band(steps, mean[:, i], lo[:, i], hi[:, i], label=_label(m), c=_color(m),
                          ax=ax, smooth=2.0)
            ax.lines[-1].set_linestyle(styles[i % len(styles)])
        ax.set_title(title)
        ax.set_xlabel("rollout")
    axes[0, 1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"softmax-policy dynamics: lr {BASE.lr:g}, staleness {BASE.staleness}, "
                 f"{BASE.mismatch}, shared d={BASE.shared_dim}, {BASE.seeds} seeds "
                 "(95% bootstrap bands)", fontsize=9)
    return plotting.save(fig, path)


def stability_figures(records, out):
    cell = {(r["overrides"]["lr"], r["overrides"]["staleness"], r["overrides"]["mismatch"]): r
            for r in records}
    paths = []
    for key, title, cmap, fname in (("final_reward_pi", "final expected reward", "viridis",
                                     "sim_stability_reward.png"),
                                    ("collapse_rate", "collapse rate", "magma_r",
                                     "sim_stability_collapse.png")):
        fig, axes = plt.subplots(2, 4, figsize=(16, 6.4), layout="constrained")
        for i, m in enumerate(MAIN):
            ax = axes.flat[i]
            vals = np.array([[next(s[key] for s in cell[lr, st, mm]["summary"] if s["method"] == m)
                              for st, mm in COLS] for lr in LRS])
            plotting.heatmap(vals, [f"st{st}\n{mm.split(':')[1]}σ" for st, mm in COLS], LRS,
                             ax=ax, cmap=cmap, vmin=0, vmax=1, xlabel="staleness / noise σ",
                             ylabel="learning rate", title=_label(m))
        axes.flat[-1].axis("off")
        fig.suptitle(f"{title} after {BASE.steps} rollouts ({BASE.seeds} seeds; collapse = expected "
                     "reward below half its peak after rising, or non-finite logits)", fontsize=9)
        paths.append(plotting.save(fig, out / fname))
    return paths


def _errorbars(ax, rec, specs, xs, label, c):
    rows = {s["method"]: s for s in rec["summary"]}
    mean = np.array([rows[s]["final_reward_pi"] for s in specs])
    lo = np.array([rows[s]["ci_low"] for s in specs])
    hi = np.array([rows[s]["ci_high"] for s in specs])
    ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=label, color=c)
    coll = [rows[s]["collapse_rate"] for s in specs]
    for x, y, cr in zip(xs, mean, coll):
        if cr:
            ax.annotate(f"{cr:.0%}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                        color=c)


def _start_from_committed_records(data: Path) -> None:
    """Writing elsewhere than figures/ (the demo does), start from the committed sweep records, so
    only points missing from them are computed."""
    committed = Path(__file__).resolve().parent / "data"
    if data.resolve() == committed:
        return
    for src in sorted(committed.glob("sim_*.jsonl")):
        if not (data / src.name).exists():
            io.write_text(data / src.name, src.read_text())


def main(outdir) -> list[Path]:
    out = Path(outdir)
    data = out / "data"
    _start_from_committed_records(data)
    plotting.style()
    paths = []
    rec = sd.sweep(BASE, [{}], data / "sim_dynamics_curves.jsonl", per_seed=True)[0]
    paths.append(curves_figure(rec, out / "sim_dynamics_curves.png"))

    pts = [{"lr": lr, "staleness": st, "mismatch": mm} for lr in LRS for st, mm in COLS]
    paths += stability_figures(sd.sweep(BASE, pts, data / "sim_stability.jsonl", progress=True), out)

    dppo = [f"dppo_binary_tv:delta_low={d},delta_high={d}" for d in DPPO_DELTAS]
    drpo = [f"drpo:delta={d}" for d in DRPO_DELTAS]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for ax, (lr, st) in zip(axes, ((5.0, 4), (20.0, 0))):
        r = sd.sweep(sd.DynamicsSettings(**{**BASE.__dict__, "methods": tuple(dppo + drpo)}),
                     [{"lr": lr, "staleness": st}], data / "sim_delta.jsonl")[0]
        _errorbars(ax, r, dppo, DPPO_DELTAS, "DPPO Binary-TV δ", plotting.color("dppo_binary_tv"))
        _errorbars(ax, r, drpo, DRPO_DELTAS, "DRPO δ", plotting.color("drpo"))
        ax.set_xscale("log")
        for d, txt in ((0.15, "0.15"), (0.2, "0.2"), (12.5, "12.5")):
            ax.axvline(d, color="k", lw=0.5, ls=":")
        ax.set_xlabel("δ (papers: DPPO 0.15 / 0.2, DRPO 12.5)")
        ax.set_ylabel("final expected reward (95% CI)")
        ax.set_title(f"δ sensitivity, lr {lr:g}, staleness {st} (labels: collapse rate)")
        ax.legend()
    paths.append(plotting.save(fig, out / "sim_delta_sensitivity.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for ax, (lr, st) in zip(axes, ((5.0, 4), (20.0, 0))):
        r = sd.sweep(sd.DynamicsSettings(**{**BASE.__dict__, "methods": ABLATIONS}),
                     [{"lr": lr, "staleness": st}], data / "sim_ablations.jsonl")[0]
        rows = {s["method"]: s for s in r["summary"]}
        x = np.arange(len(ABLATIONS))
        mean = np.array([rows[m]["final_reward_pi"] for m in ABLATIONS])
        err = [mean - [rows[m]["ci_low"] for m in ABLATIONS], [rows[m]["ci_high"] for m in ABLATIONS] - mean]
        ax.bar(x, mean, color=[_color(m) for m in ABLATIONS], yerr=err, capsize=3)
        for xi, m in zip(x, ABLATIONS):
            ax.text(xi, 0.02, f"{rows[m]['collapse_rate']:.0%}", ha="center", fontsize=7)
        ax.set_xticks(x, ABLATIONS, rotation=25, ha="right")
        ax.set_ylabel("final expected reward (95% CI)")
        ax.set_title(f"ablations, lr {lr:g}, staleness {st} (text: collapse rate)")
    paths.append(plotting.save(fig, out / "sim_ablations.png"))
    return paths


if __name__ == "__main__":  # pragma: no cover
    print(main(Path(__file__).parent))
