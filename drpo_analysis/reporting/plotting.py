"""Paper-style plotting: one palette, one style helper; every function takes ``ax=None`` and
returns the Axes (the rliable convention). matplotlib loads only when this module is imported.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from drpo_analysis.core import methods as _registry  # noqa: E402
from drpo_analysis.util import io  # noqa: E402

# the papers' trust-region sizes, from the registry
DPPO_TV_DELTA = _registry.DPPO_TV_DELTA
DPPO_KL_DELTA = _registry.get("dppo_binary_kl").default("delta_high")
PPO_EPS = (_registry.get("ppo_clip").default("eps_low"), _registry.get("ppo_clip").default("eps_high"))

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
    """Write ``fig`` as PNG atomically (creating the folder) and close it."""
    path = Path(path)
    try:
        with io.atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", metadata={"Software": None})  # no matplotlib version in the file
    finally:
        plt.close(fig)
    return path


# --- gradient weights, surrogates and trust regions -----------------------------------------------
# Every curve below is evaluated through the registry's numpy face (losses_np.gradient_weight /
# losses_np.objective), never a re-typed formula.

def single_token_extras(method: str, ell, ell_mu) -> dict:
    """Extras that make a method well defined for an isolated token (shape of ``ell``), from the
    registry's builders with every token its own one-token sequence.

    Top-K methods get K = 1 (the sampled token plus the rest bucket), where the Top-K divergence
    *is* the binary one; GSPO gets a one-token sequence (L = ℓ − ℓ_μ, |y| = 1), where the
    sequence ratio is the token ratio.
    """
    import numpy as np

    from drpo_analysis.core import methods
    from drpo_analysis.core.methods.base import BatchInputs, build_extras

    ell, ell_mu = np.broadcast_arrays(np.asarray(ell, dtype=float), np.asarray(ell_mu, dtype=float))
    col = (ell.reshape(-1, 1), ell_mu.reshape(-1, 1))                    # [N, 1]: one token per row
    batch = BatchInputs(*col, np.ones((ell.size, 1), bool), col[1][..., None], col[0][..., None])
    with np.errstate(invalid="ignore"):
        built = build_extras(methods.get(method), batch)
    return {k: v.reshape(ell.shape + v.shape[2:]) for k, v in built.items()}


def token_weight(method: str, pi, mu, adv, params=None):
    """Registry gradient weight ``w(π, μ, Â)`` of an isolated token (broadcast to one shape)."""
    import numpy as np

    from drpo_analysis.core import losses_np
    pi, mu, adv = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (pi, mu, adv)))
    with np.errstate(divide="ignore"):
        ell, ell_mu = np.log(pi), np.log(mu)
    return losses_np.gradient_weight(method, ell, ell_mu, adv, params=params,
                                     extras=single_token_extras(method, ell, ell_mu))


def method_label(method: str, params=None) -> str:
    """``drpo (δ=0.15)``: the method name with the parameters that differ from paper defaults."""
    from drpo_analysis.core import methods

    m = methods.get(method)
    changed = {k: v for k, v in (params or {}).items()
               if any(p.name == k and p.default != v for p in m.params)}
    return method + (" (" + ", ".join(f"{k}={v:g}" for k, v in changed.items()) + ")" if changed else "")


def shift_grid(mu: float, n: int = 1201):
    """Δ = π − μ over the open interval (−μ, 1 − μ), denser near 0 (rare tokens need it)."""
    import numpy as np
    lo, hi = -mu, 1.0 - mu
    u = np.linspace(-1.0, 1.0, n)[1:-1]                          # [n-2]
    # a cubic stretch puts half the points within 1/8 of either end's range around Δ = 0
    return np.where(u < 0, -lo * u ** 3, hi * u ** 3)


def weight_vs_shift(specs, mu: float, sign: float, *, ax=None, ylim=(-2.0, 3.0),
                    dppo_delta: float | None = DPPO_TV_DELTA, dppo_kl_delta: float | None = DPPO_KL_DELTA,
                    title: str | None = None):
    """Gradient weight ``w`` against the probability shift Δ = π − μ (DRPO Fig. 1, extended).

    specs: list of ``(method, params)``; mu: behaviour probability μ of the token; sign: sign of Â
    (Â = ±1). Curves that leave ``ylim`` are clipped and their true range is given in the legend.
    The DPPO-TV boundary ``s Δ = δ`` (and the binary-KL one, if given) is drawn as a vertical line.
    """
    import numpy as np

    ax = get_ax(ax)
    shift = shift_grid(mu)                                       # [n]
    pi = mu + shift
    off_scale = []
    for method, params in specs:
        w = token_weight(method, pi, mu, sign, params)
        label = method_label(method, params)
        lo, hi = float(np.nanmin(w)), float(np.nanmax(w))
        if ylim and (lo < ylim[0] or hi > ylim[1]):
            off_scale.append(f"{label}: w ∈ [{lo:.3g}, {hi:.3g}]")
        ax.plot(shift, np.clip(w, *ylim) if ylim else w, color=color(method), label=label,
                ls=_style_for(method, params), zorder=3)
    edges = []  # boundaries, named on a top axis so their labels never sit on the curves
    if dppo_delta is not None and -mu < sign * dppo_delta < 1 - mu:
        ax.axvline(sign * dppo_delta, color="k", lw=0.8, ls="--", zorder=1)
        edges.append((sign * dppo_delta, f"DPPO-TV sΔ=δ={dppo_delta:g}"))
    if dppo_kl_delta is not None:
        edge = binary_kl_boundary(mu, dppo_kl_delta, sign)
        if edge is not None:
            ax.axvline(edge - mu, color="0.45", lw=0.8, ls=":", zorder=1)
            # a trailing newline lifts this label one line above the TV one: the two boundaries are
            # often within a few pixels of each other (μ = 0.5: 0.15 vs ≈ 0.155)
            edges.append((edge - mu, f"DPPO-KL D=δ={dppo_kl_delta:g}" + ("\n" if edges else "")))
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axhline(1, color="0.8", lw=0.6)
    if off_scale:
        ax.text(0.99, 0.02, "off scale (clipped):\n" + "\n".join(off_scale), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=6, color="0.3",
                bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.85))
    if ylim:
        ax.set_ylim(*ylim)
    if mu < 0.05:  # rare token: Δ spans (−μ, 1 − μ); a symlog axis shows both ends
        ax.set_xscale("symlog", linthresh=mu, linscale=1.0)
        ticks = [-mu, 0.0] + [t for t in 10.0 ** np.arange(-6, 1) if t >= mu]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.tick_params(axis="x", labelsize=7)
    ax.set_xlim(-mu, 1 - mu)
    ax.set_xlabel("probability shift Δ = π − μ" + (f"  (symlog axis: linear for |Δ| < {mu:g})" if mu < 0.05 else ""))
    ax.set_ylabel("gradient weight w")
    if edges:
        top = ax.secondary_xaxis("top")
        if mu < 0.05:
            top.set_xscale("symlog", linthresh=mu, linscale=1.0)
        top.set_xticks([x for x, _ in edges], [t for _, t in edges], fontsize=6)
        top.tick_params(length=3, pad=1)
    ax.set_title(title or f"μ = {mu:g}, Â {'> 0' if sign > 0 else '< 0'}", pad=6 + 8 * len(edges))
    return ax


def _style_for(method, params):
    """Solid at paper defaults, dashed when parameters were changed."""
    return "--" if method_label(method, params) != method else "-"


def binary_kl_boundary(mu: float, delta: float, sign: float):
    """π on DPPO's binary-KL boundary ``D_KL^bin(μ‖π) = δ`` on the side ``s Δ > 0`` (None if none)."""
    from scipy.optimize import brentq

    from drpo_analysis.core.divergences import binary_kl
    import numpy as np
    f = lambda p: float(binary_kl(np.float64(mu), np.float64(p))) - delta  # noqa: E731
    end = 1.0 - 1e-15 if sign > 0 else 1e-300
    if f(end) <= 0:
        return None
    return brentq(f, mu, end, xtol=1e-15) if sign > 0 else brentq(f, end, mu, xtol=1e-300)


def surrogate_vs_ratio(specs, mu: float, sign: float, *, ax=None, r_max: float = 3.0,
                       log: bool = False, title=None):
    """Per-token surrogate objective ``J`` (maximised) against the ratio r = π/μ at fixed μ and
    Â = ±1, from ``losses_np.objective``; r runs over (0, min(r_max, 1/μ)).

    log: log-scaled r from 1e−2 and a symlog J axis (rare tokens reach r = 1/μ ≫ 1).
    """
    import numpy as np

    from drpo_analysis.core import losses_np
    ax = get_ax(ax)
    top = min(r_max, 1.0 / mu) * (1 - 1e-9)
    r = np.geomspace(1e-2, top, 1200) if log else np.linspace(1e-3, top, 1200)   # [n]
    ell, ell_mu = np.log(r * mu), np.full_like(r, np.log(mu))
    adv = np.full_like(r, float(sign))
    for method, params in specs:
        J = losses_np.objective(method, ell, ell_mu, adv, params=params,
                                extras=single_token_extras(method, ell, ell_mu))
        ax.plot(r, J, color=color(method), ls=_style_for(method, params),
                label=method_label(method, params))
    ax.axvline(1, color="0.7", lw=0.6)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("ratio r = π/μ")
    ax.set_ylabel("per-token objective J")
    ax.set_title(title or f"μ = {mu:g}, Â = {sign:+g}")
    return ax


def trust_region_map(specs, sign: float, *, ax=None, log: bool = False, n: int = 400, title=None):
    """Boundary of each method's trust region in the (μ, π) plane: the curve where the registry's
    gradient weight for Â = ``sign`` stops being positive (masked, clipped or turned corrective).

    Inside (towards π = μ; the band between the diagonal and the boundary is shaded in the method's
    colour) the token pushes π in the direction of Â; outside its gradient is 0 or points back. A method whose weight stays positive on the whole
    square has no boundary to draw: a note in the panel says so (no legend entry without a curve).
    """
    import numpy as np

    ax = get_ax(ax)
    axis = np.logspace(-4, 0, n)[:-1] if log else np.linspace(0, 1, n + 2)[1:-1]   # [n]
    mu, pi = np.meshgrid(axis, axis)                                               # [n, n]
    no_boundary = []
    for method, params in specs:
        w = token_weight(method, pi, mu, np.full_like(pi, float(sign)), params)
        label = method_label(method, params)
        if (w > 0).all() or (w <= 0).all():  # nothing to draw: say so in the panel, not as a legend entry
            # name its parameters even at their defaults (e.g. DRPO's δ = 12.5): there is no curve to tell
            resolved = _registry.get(method).resolve_params(params)
            shown = f"{method} ({', '.join(f'{k}={v:g}' for k, v in resolved.items())})"
            no_boundary.append(f"{shown}: w {'> 0' if (w > 0).all() else '≤ 0'} everywhere")
            continue
        # shade the allowed band between the diagonal and the boundary (w > 0 with sΔ > 0: the token
        # may still move away from μ in Â's direction; with sΔ ≤ 0 every method here allows it), then
        # contour the (clipped) weight just above 0: smooth where w crosses 0 continuously (DRPO,
        # SPO), on the grid cell edge where it jumps (clips, masks)
        band = (w > 0) & (float(sign) * (pi - mu) > 0)
        ax.contourf(mu, pi, band.astype(float), levels=[0.5, 1.5], colors=[color(method)], alpha=0.10)
        ax.contour(mu, pi, np.clip(w, -1.0, 1.0), levels=[1e-9], colors=[color(method)],
                   linestyles=[_style_for(method, params)], linewidths=1.6)
        ax.plot([], [], color=color(method), ls=_style_for(method, params), label=label)
    if no_boundary:
        ax.text(0.98, 0.02, "no boundary on this square:\n" + "\n".join(no_boundary), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="0.3",
                bbox=dict(boxstyle="round", fc="white", ec="0.8", alpha=0.85))
    ax.plot(axis, axis, color="0.6", lw=0.6)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("behaviour probability μ")
    ax.set_ylabel("trained probability π")
    ax.set_title(title or f"trust regions, Â {'> 0' if sign > 0 else '< 0'}")
    return ax


# --- long-tailed vocabulary simulation (sim/) -------------------------------------------------

def mismatch_scatter(mu, pi, *, kind: str = "ratio", ax=None, title=None, max_points: int = 20000):
    """DPPO Fig. 2 style: per sampled token, ``r = π/μ`` (kind="ratio") or ``|π − μ|``
    (kind="shift") against the behaviour probability μ (log x axis)."""
    import numpy as np

    ax = get_ax(ax)
    mu, pi = np.asarray(mu)[:max_points], np.asarray(pi)[:max_points]
    y = pi / mu if kind == "ratio" else np.abs(pi - mu)
    ax.scatter(mu, y, s=2, alpha=0.25, color=color("ppo_clip" if kind == "ratio" else "drpo"),
               rasterized=True, linewidths=0)
    ax.set_xscale("log")
    if kind == "ratio":
        ax.axhline(1.0, color="k", lw=0.6)
        for b in (1 - PPO_EPS[0], 1 + PPO_EPS[1]):
            ax.axhline(b, color="k", lw=0.6, ls=":")
        ax.set_ylabel("ratio r = π/μ")
    else:
        ax.set_yscale("log")
        ax.axhline(DPPO_TV_DELTA, color=color("dppo_binary_tv"), lw=0.8, ls="--",
                   label=f"DPPO δ = {DPPO_TV_DELTA:g}")
        ax.set_ylabel("|π − μ|")
        ax.legend(loc="upper left")
    ax.set_xlabel("μ (inference-engine probability)")
    if title:
        ax.set_title(title)
    return ax


def bucket_bars(buckets, keys, *, labels=None, colors=None, ax=None, ylabel="share of tokens",
                title=None):
    """Grouped bars per μ bucket: one bar per key of the bucket rows (missing values → 0)."""
    import numpy as np

    ax = get_ax(ax)
    names = [b["bucket"] for b in buckets]
    x = np.arange(len(names))
    w = 0.8 / max(len(keys), 1)
    for i, k in enumerate(keys):
        vals = [b.get(k) or 0.0 for b in buckets]
        ax.bar(x + (i - (len(keys) - 1) / 2) * w, vals, w, label=(labels or keys)[i],
               color=(colors[i] if colors else None))
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_xlabel("μ bucket")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def band(x, mean, lo, hi, *, label=None, c=None, ax=None, smooth: float = 0.0):
    """A curve with a shaded confidence band (optionally Gaussian-smoothed, DPPO uses σ = 2)."""
    import numpy as np

    ax = get_ax(ax)
    if smooth:
        from scipy.ndimage import gaussian_filter1d
        mean, lo, hi = (gaussian_filter1d(np.asarray(v, float), smooth) for v in (mean, lo, hi))
    ax.plot(x, mean, label=label, color=c)
    ax.fill_between(x, lo, hi, color=c, alpha=0.2, linewidth=0)
    return ax


def heatmap(values, xticks, yticks, *, ax=None, cmap="viridis", vmin=None, vmax=None, fmt="{:.2f}",
            xlabel=None, ylabel=None, title=None):
    """Annotated heatmap of a [len(yticks), len(xticks)] array."""
    import numpy as np

    ax = get_ax(ax)
    v = np.asarray(values, float)
    im = ax.imshow(v, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
    ax.set_xticks(range(len(xticks)), [str(t) for t in xticks])
    ax.set_yticks(range(len(yticks)), [str(t) for t in yticks])
    ax.grid(False)
    for (i, j), val in np.ndenumerate(v):
        if np.isfinite(val):
            r, g, b, _ = im.cmap(im.norm(val))
            ax.text(j, i, fmt.format(val), ha="center", va="center", fontsize=7,
                    color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


# --- RL training curves (rl/, paper_repro) -----------------------------------------------------

def training_curve(x, mean, lo, hi, *, label=None, c=None, ax=None, smooth: float = 2.0):
    """DPPO-style training curve: the raw seed mean as a faint line, its Gaussian-smoothed
    (σ = ``smooth``) version over it and the smoothed confidence band (x: [T]; mean, lo, hi: [T])."""
    ax = get_ax(ax)
    ax.plot(x, mean, color=c, alpha=0.3, lw=0.7)
    return band(x, mean, lo, hi, label=label, c=c, ax=ax, smooth=smooth)
