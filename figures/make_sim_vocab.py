"""Long-tailed vocabulary under training–inference mismatch (V = 151,936, identical weights).

* ``sim_fig2_replica.png``: DPPO Fig. 2 replica, per sampled token the ratio r = π/μ and the
  shift |π − μ| against μ, for bf16 and fp8 (e4m3, per-row scaling) inference logits;
* ``sim_bucket_masks.png``: per μ bucket, the share of sampled tokens PPO-clip (ε 0.2/0.28),
  DPPO Binary-TV (δ 0.15) and Binary-KL (δ 0.05) would mask, for Â < 0 and Â > 0;
* ``sim_approx_gap.png``: DPPO's Binary and Top-K (K = 20) divergences as a share of the exact
  full-vocabulary TV / KL(μ‖π) of the same context, per mismatch model (1 = tight; they are lower
  bounds, and the run checks that none exceeds the exact value).

The numbers behind the figures are written to ``sim_vocab.json`` beside them.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.sim import vocab as sv
from drpo_analysis.util import io

MISMATCHES = ("bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "noise=0.05", "temperature=1.05",
              "bf16+top_p=0.95")


def main(outdir) -> list[Path]:
    out = Path(outdir)
    plotting.style()
    res = sv.simulate(sv.VocabSettings(contexts=256, samples=64, mismatches=MISMATCHES, seed=0))
    scatter = res.pop("scatter")
    io.write_json(out / "sim_vocab.json", res, indent=1)
    by = {e["mismatch"]: e for e in res["results"]}
    paths = []

    fig, axes = plt.subplots(2, 2, figsize=(8.4, 6.2), layout="constrained")
    for row, label in zip(axes, ("bf16", "fp8_e4m3")):
        sc = scatter[label]
        plotting.mismatch_scatter(sc["mu"], sc["pi"], kind="ratio", ax=row[0],
                                  title=f"{label}: ratio vs probability")
        plotting.mismatch_scatter(sc["mu"], sc["pi"], kind="shift", ax=row[1],
                                  title=f"{label}: |π − μ| vs probability")
    fig.suptitle("DPPO Fig. 2 replica: π = fp32 logits, μ = the same logits rounded "
                 f"(Zipf tail, V = 151,936, {by['bf16']['n_tokens']} tokens)", fontsize=9)
    paths.append(plotting.save(fig, out / "sim_fig2_replica.png"))

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), layout="constrained")
    keys = [f"masked_{m}_{s}" for m in sv.MASK_METHODS for s in ("neg",)]
    keys_pos = [f"masked_{m}_pos" for m in sv.MASK_METHODS]
    cols = [plotting.color(m) for m in sv.MASK_METHODS]
    names = ["PPO-clip", "DPPO Binary-TV δ=0.15", "DPPO Binary-KL δ=0.05"]
    for ax, label in zip(axes[0], ("bf16", "fp8_e4m3", "fp8_e5m2")):
        plotting.bucket_bars(by[label]["buckets"], keys, labels=names, colors=cols, ax=ax,
                             ylabel="share masked (Â < 0)", title=f"{label}, Â < 0")
    for ax, label in zip(axes[1], ("fp8_e4m3", "noise=0.05", "temperature=1.05")):
        plotting.bucket_bars(by[label]["buckets"], keys_pos, labels=names, colors=cols, ax=ax,
                             ylabel="share masked (Â > 0)", title=f"{label}, Â > 0")
    for ax in axes.flat:
        ax.set_ylim(0, 1.3)
    fig.suptitle("Which sampled tokens each trust region masks, by inference probability μ "
                 "(DRPO δ = 12.5 never zeroes a weight: w ∈ [0.92, 1.08])", fontsize=9)
    paths.append(plotting.save(fig, out / "sim_bucket_masks.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    labels = [e["mismatch"] for e in res["results"]]
    x = np.arange(len(labels))
    for ax, (kinds, title) in zip(axes, ((("binary_tv", "topk_tv"), "TV"),
                                         (("binary_kl", "topk_kl"), "KL(μ‖π)"))):
        for i, k in enumerate(kinds):
            mean = [e["approximation"][k]["ratio_to_exact"]["mean"] for e in res["results"]]
            med = [e["approximation"][k]["ratio_to_exact"]["median"] for e in res["results"]]
            ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, label=f"{k.split('_')[0]} (mean)",
                   color=plotting.color("dppo_binary_tv" if i == 0 else "dppo_topk_tv"))
            ax.plot(x + (i - 0.5) * 0.38, med, "k_", ms=10, label="median" if i == 0 else None)
        viol = sum(e["approximation"][k]["violations"] for e in res["results"] for k in kinds)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xticks(x, labels, rotation=25, ha="right")
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("approximation / exact")
        ax.set_title(f"{title}: DPPO approximations vs full vocabulary ({viol} violations)")
        ax.legend(loc="upper left")
    paths.append(plotting.save(fig, out / "sim_approx_gap.png"))
    return paths


if __name__ == "__main__":  # pragma: no cover
    print(main(Path(__file__).parent))
