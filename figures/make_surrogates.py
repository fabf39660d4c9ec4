"""Per-token surrogate objectives J (maximised; loss = −J) against the ratio r = π/μ, for a rare
(μ = 1e−3) and a common (μ = 0.5) token and Â = ±1, from the registry's numpy face.

Methods whose loss value is only a gradient device (CISPO, GPG: ``Method.value_meaningful`` is
False) are left out: their value is not an objective. DPPO's masked objective ``M r Â`` drops to 0
where the mask switches on: the surrogate is discontinuous by construction. For the rare token
r runs up to 1/μ = 1000 on a log axis: DPPO's masks only act past r = 1 + δ/μ = 151 there.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from drpo_analysis.core import methods

from drpo_analysis.reporting import plotting

PANELS = {
    "clip / mask": [("pg_is", None), ("ppo_clip", None), ("dual_clip", None),
                    ("dppo_binary_tv", None), ("dppo_binary_kl", None)],
    "penalties": [("spo", None), ("spo", methods.DPPO_CONSISTENT["spo"]), ("drpo", None),
                  ("drpo", methods.DPPO_CONSISTENT["drpo"]), ("mask_drpo", methods.DPPO_CONSISTENT["mask_drpo"]),
                  ("pg_kl", None), ("pg_tv", None), ("pg_k3", None)],
    "log-space (DRO: Âℓ − β(ℓ−ℓ_μ)²/2)": [("dro", None), ("dro", {"beta": 1.0})],
}


def main(outdir) -> list[Path]:
    plotting.style()
    assert all(methods.get(n).value_meaningful for specs in PANELS.values() for n, _ in specs)
    fig, axes = plt.subplots(len(PANELS), 4, figsize=(19, 3.4 * len(PANELS)), layout="constrained")
    for row, (name, specs) in zip(axes, PANELS.items()):
        for ax, (mu, s) in zip(row, [(mu, s) for mu in (1e-3, 0.5) for s in (1.0, -1.0)]):
            plotting.surrogate_vs_ratio(specs, mu, s, ax=ax, r_max=3.0 if mu > 0.01 else 1.0 / mu,
                                        log=mu <= 0.01, title=f"{name}: μ = {mu:g}, Â = {s:+g}")
        row[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    fig.suptitle("Per-token surrogate objective J against r = π/μ (solid: paper default, dashed: "
                 "DPPO/PPO-consistent scale). μ = 1e−3: r up to 1/μ on log axes, J on a symlog axis")
    return [plotting.save(fig, Path(outdir) / "surrogates.png")]


if __name__ == "__main__":
    for p in main(Path(__file__).parent):
        print(p)
