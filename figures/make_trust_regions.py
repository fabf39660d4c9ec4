"""Trust regions of PPO, DPPO-TV, DPPO-KL and DRPO in the (μ, π) plane.

A region's boundary is where the registry's gradient weight ``w`` (Â = ±1) stops being positive:
PPO's clip (π = (1+ε_h) μ / (1−ε_l) μ), DPPO's masks (|π − μ| = δ, binary KL = δ) and DRPO's
zero crossing π = μ + sδ. At the paper's δ = 12.5 DRPO's weight never reaches zero on [0, 1]²
(it has no trust-region boundary at all); at δ = 0.15 its zero crossing lies exactly on DPPO-TV's
boundary. Linear axes show common tokens, log axes rare ones (where PPO's region collapses onto
the diagonal while DPPO's stays a band of fixed absolute width).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from drpo_analysis.core.methods import DPPO_CONSISTENT
from drpo_analysis.reporting import plotting

SPECS = [("ppo_clip", None), ("dppo_binary_tv", None), ("dppo_binary_kl", None),
         ("drpo", None), ("drpo", DPPO_CONSISTENT["drpo"]), ("spo", DPPO_CONSISTENT["spo"])]


def main(outdir) -> list[Path]:
    plotting.style()
    fig, axes = plt.subplots(2, 2, figsize=(11, 10), layout="constrained")
    for col, s in enumerate((1.0, -1.0)):
        for row, log in enumerate((False, True)):
            plotting.trust_region_map(SPECS, s, ax=axes[row, col], log=log,
                                      title=f"Â {'> 0' if s > 0 else '< 0'}, {'log' if log else 'linear'} axes: "
                                            "boundary where w stops being > 0")
    axes[0, 1].legend(loc="upper left", fontsize=7)
    fig.suptitle("Trust regions in the (μ, π) plane. Shaded in each method's colour: the band between the diagonal "
                 "π = μ and its boundary,\nwhere the update may still move π away from μ in Â's direction (w > 0); "
                 "moves back towards μ are allowed by every method shown")
    return [plotting.save(fig, Path(outdir) / "trust_regions.png")]


if __name__ == "__main__":
    for p in main(Path(__file__).parent):
        print(p)
