"""The regime sweep (find where trust regions matter): final-quarter training reward of
PG-IS and DPPO-TV and their gap over learning rate × (updates per rollout, mismatch). One seed,
40 iterations. Writes ``rl_sweep.png``."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.rl.experiments import choose_regime

RESULTS = Path(__file__).resolve().parents[1] / "paper_repro" / "results"


def main(outdir) -> list[Path]:
    plotting.style()
    if not (RESULTS / "sweep").exists():
        print(f"make_rl_sweep: no sweep results under {RESULTS}; run `drpo-analysis repro` first")
        return []
    best, table = choose_regime(str(RESULTS))
    lrs = sorted({c["lr"] for c in table})
    cols = sorted({(c["updates"], c["mismatch"]) for c in table})
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
    for ax, (what, title) in zip(axes, (("pg_is", "PG-IS tail reward"), ("dppo_binary_tv", "DPPO-TV tail reward"),
                                        ("gap", "gap: DPPO-TV − PG-IS"))):
        v = np.full((len(lrs), len(cols)), np.nan)
        for c in table:
            v[lrs.index(c["lr"]), cols.index((c["updates"], c["mismatch"]))] = \
                c["gap"] if what == "gap" else c[what]["tail_reward"]
        plotting.heatmap(v, [f"u{u}\n{m.replace('bf16+', '').replace('+', chr(10))}" for u, m in cols],
                         [f"{lr:g}" for lr in lrs], ax=ax, cmap="RdBu" if what == "gap" else "viridis",
                         vmin=-0.3 if what == "gap" else 0, vmax=0.3 if what == "gap" else None,
                         xlabel="updates per rollout / extra mismatch (on top of bf16)", ylabel="lr", title=title)
        ax.tick_params(axis="x", labelsize=6)
    if best:
        fig.suptitle(f"Regime sweep (1 seed, 40 iterations). Chosen: lr {best['lr']:g}, {best['updates']} updates, "
                     f"{best['mismatch']}", fontsize=10)
    fig.tight_layout()
    return [plotting.save(fig, Path(outdir) / "rl_sweep.png")]
