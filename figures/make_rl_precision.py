"""DPPO Fig. 2 measured on the tiny model (claim 7): at identical weights, every sampled token's
ratio r = π/μ and shift |π − μ| between the float32 policy and a bf16 / fp8 sampler, against μ.
Writes ``rl_precision.png`` (one column per sampler precision)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from drpo_analysis.reporting import plotting
from drpo_analysis.rl.matrix import load_results

RESULTS = Path(__file__).resolve().parents[1] / "paper_repro" / "results"


def main(outdir) -> list[Path]:
    plotting.style()
    runs = [r for r in load_results(RESULTS, "precision") if r.get("seed", 0) == 0]
    if not runs:
        print(f"make_rl_precision: no results under {RESULTS}; run `drpo-analysis repro` first")
        return []
    fig, axes = plt.subplots(2, len(runs), figsize=(4.2 * len(runs), 6.4), squeeze=False)
    for j, r in enumerate(sorted(runs, key=lambda r: r["mismatch"])):
        for i, kind in enumerate(("ratio", "shift")):
            plotting.mismatch_scatter(r["mu"], r["pi"], kind=kind, ax=axes[i, j],
                                      title=f"{r['mismatch']} sampler vs fp32 policy ({r['tokens']} tokens)")
    fig.suptitle("Same weights, different precision: ratio volatile for rare tokens, absolute shift small "
                 "(dotted: PPO clip 0.8 / 1.28; dashed: DPPO δ)", fontsize=10)
    fig.tight_layout()
    return [plotting.save(fig, Path(outdir) / "rl_precision.png")]
