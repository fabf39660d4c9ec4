"""Gradient weight against the probability shift Δ = π − μ for every registered method
(DRPO paper Fig. 1, extended to all methods), for a rare (μ = 1e−3) and a common (μ = 0.5) token,
Â > 0 and Â < 0, with DPPO's TV and binary-KL boundaries marked.

Two settings, shown side by side honestly:

* ``weights_paper_defaults.png``: every method at its paper default. DRPO's δ = 12.5 (the value
  the DRPO paper trains with) makes ``w = 1 − sΔ/δ`` nearly flat: |Δ| ≤ 1 ⇒ w ∈ [0.92, 1.08].
* ``weights_dppo_consistent.png``: DRPO δ = 0.15 and SPO ε = 0.2, the trust-region sizes of
  DPPO-TV and PPO, where DRPO's weight crosses zero exactly at DPPO's boundary.
* ``weights_fig1.png``: the paper's comparison (PPO, DPPO-TV, SPO, DRPO at both δ) on one page.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from drpo_analysis.core.methods import DPPO_CONSISTENT
from drpo_analysis.reporting import plotting

MUS = (1e-3, 0.5)
SIGNS = (1.0, -1.0)
FAMILIES = {
    "ratio clip / IS": ["pg_is", "cispo", "ppo_clip", "dual_clip", "gpg", "gspo_token"],
    "DPPO masks (Top-K: K=1)": ["dppo_binary_tv", "dppo_binary_kl", "dppo_topk_tv", "dppo_topk_kl"],
    "quadratic penalties": ["spo", "drpo", "mask_drpo", "drpo_no_abs_adv"],
    "sampled penalties": ["pg_kl", "pg_tv", "pg_k3", "dro"],
}


def grid(params_for, title, path):
    fig, axes = plt.subplots(len(FAMILIES), 4, figsize=(19, 3.2 * len(FAMILIES)), layout="constrained")
    for row, (family, names) in zip(axes, FAMILIES.items()):
        specs = [(n, params_for.get(n)) for n in names]
        for ax, (mu, s) in zip(row, [(mu, s) for mu in MUS for s in SIGNS]):
            plotting.weight_vs_shift(specs, mu, s, ax=ax,
                                     title=f"{family}: μ = {mu:g}, Â = {s:+g}")
        row[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
        for ax in row[1:]:
            ax.set_ylabel("")
    fig.suptitle(title)
    return plotting.save(fig, path)


def _legend_below(fig, ax, ncol):
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=ncol, fontsize=8)


def fig1(path):
    specs = [("ppo_clip", None), ("dppo_binary_tv", None), ("spo", None), ("spo", {"eps": 0.2}),
             ("drpo", None), ("drpo", {"delta": 0.15})]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for ax, (mu, s) in zip(axes, [(mu, s) for mu in MUS for s in SIGNS]):
        plotting.weight_vs_shift(specs, mu, s, ax=ax, dppo_kl_delta=None)
    _legend_below(fig, axes[0], ncol=6)
    fig.suptitle("Gradient weight w (∇J = Â r w ∇ℓ): solid = paper default, dashed = DPPO/PPO-consistent "
                 "scale; DRPO δ = 12.5 is nearly flat", y=1.02)
    fig.tight_layout()
    return plotting.save(fig, path)


def main(outdir) -> list[Path]:
    plotting.style()
    out = Path(outdir)
    return [
        fig1(out / "weights_fig1.png"),
        grid({}, "Gradient weight vs probability shift, every method at its paper default "
             "(DRPO/SPO δ = ε = 12.5); Â = ±1, so drpo_no_abs_adv coincides with drpo", out / "weights_paper_defaults.png"),
        grid(DPPO_CONSISTENT, "Gradient weight vs probability shift, DRPO δ = 0.15 (DPPO-TV's δ) and "
             "SPO ε = 0.2 (PPO's ε); others at paper defaults; Â = ±1, so drpo_no_abs_adv coincides with drpo", out / "weights_dppo_consistent.png"),
    ]


if __name__ == "__main__":
    for p in main(Path(__file__).parent):
        print(p)
