"""The regime sweep (where do trust regions matter?), run on seeds the matrix never uses: tail
training reward of PG-IS and DPPO-TV per cell (updates per rollout × fitted mismatch with
staleness), the chosen cell marked. Writes ``rl_sweep.png``."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from drpo_analysis.reporting import plotting
from drpo_analysis.rl.experiments import choose_regime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "paper_repro" / "results"


def main(outdir) -> list[Path]:
    plotting.style()
    if not (RESULTS / "sweep").exists():
        print(f"make_rl_sweep: no sweep results under {RESULTS}; run `drpo-analysis repro` first")
        return []
    best, table = choose_regime(str(RESULTS), ROOT / "paper_repro" / "sweep.json")
    if not table:
        return []
    fig, ax = plt.subplots(figsize=(1.6 * len(table) + 2, 3.4))
    x = np.arange(len(table))
    for k, m in enumerate(("pg_is", "dppo_binary_tv")):
        ax.bar(x + (k - 0.5) * 0.38, [c[m]["tail_reward"] for c in table], 0.38, color=plotting.color(m), label=m)
    names = [f"lr {c['lr']:g}, {c['updates']} upd.\n{c['mismatch']}" + ("\n(chosen)" if c is best else "")
             for c in table]
    ax.set_xticks(x, names, fontsize=7)
    ax.set_ylabel("tail training reward")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("Regime sweep on sweep seeds (no matrix seed): PG-IS vs DPPO-TV", fontsize=9)
    fig.tight_layout()
    return [plotting.save(fig, Path(outdir) / "rl_sweep.png")]
