"""Paper-style plotting: one palette, one style helper; every function takes ``ax=None`` and
returns the Axes (the rliable convention). matplotlib loads only when this module is imported.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# One colour per method family member, stable across every figure.
PALETTE = {
    "pg_is": "#7f7f7f", "cispo": "#8c564b", "gpg": "#bcbd22",
    "ppo_clip": "#1f77b4", "dual_clip": "#17becf",
    "dppo_binary_tv": "#2ca02c", "dppo_binary_kl": "#98df8a",
    "dppo_topk_tv": "#006d2c", "dppo_topk_kl": "#74c476",
    "spo": "#ff7f0e", "drpo": "#d62728", "mask_drpo": "#e377c2", "drpo_no_abs_adv": "#9467bd",
    "pg_kl": "#c49c94", "pg_tv": "#f7b6d2", "pg_k3": "#c5b0d5", "dro": "#dbdb8d",
    "gspo_token": "#9edae5", "gspo_seq": "#aec7e8",
}


def color(name: str) -> str:
    return PALETTE.get(name, "#333333")


def style() -> None:
    """The toolkit's figure style (applied once per script)."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight",
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.25, "font.size": 9, "axes.titlesize": 10, "legend.frameon": False,
        "legend.fontsize": 8, "lines.linewidth": 1.6,
    })


def get_ax(ax=None, figsize=(4.2, 3.2)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def save(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG (creating the folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
