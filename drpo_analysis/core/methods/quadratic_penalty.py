"""Smooth quadratic trust-region penalties: SPO (χ²-like) and DRPO (ℓ₂²-like) and DRPO's ablations.

DRPO (arXiv 2606.09821) keeps DPPO's trust region on the absolute shift ``Δ = π − μ`` but replaces
the hard mask by the advantage-weighted penalty ``|Â| μ (r − 1)² / (2δ) = |Â| Δ² / (2δ μ)``.
Numerically we write ``μ (r − 1)² = Δ · (r − 1)`` with ``r − 1 = expm1(ℓ − ℓ_μ)``: both factors
stay finite for μ down to the smallest normal float, where ``Δ²/μ`` would divide by an underflow.
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import Method, Param
from drpo_analysis.core.methods.divergence_mask import METHODS as _DPPO
from drpo_analysis.core.methods.ratio_clip import EPS_LOW

#: DPPO Binary-TV's δ (0.15): DRPO's "DPPO-consistent" scale and Mask-DRPO's boundary.
DPPO_TV_DELTA = _DPPO[0].default("delta_high")


def spo(x, p):
    """SPO (arXiv 2401.16025, eq. 11): ``J = r Â − |Â| (r − 1)² / (2ε)``; ``w = 1 − s (r − 1)/ε``."""
    r_minus_1 = x.ops.expm1(x.log_ratio)
    # (|Â|·(r−1))·(r−1), not |Â|·(r−1)²: at Â = 0 and r > e^44 the square overflows float32 and
    # 0·inf would be NaN (found by the fuzzer's overflow check); symbolically the same.
    return x.r * x.adv - x.abs_adv * r_minus_1 * r_minus_1 / (2 * p.eps)


def drpo_penalty(x):
    """``μ (r − 1)² = Δ (r − 1)`` (DRPO eq. 6, rewritten for stability)."""
    return x.shift * x.ops.expm1(x.log_ratio)


def drpo(x, p):
    """DRPO (arXiv 2606.09821, eq. 6): ``J = r Â − |Â| μ (r − 1)² / (2δ)``; ``w = 1 − s Δ / δ``."""
    return x.r * x.adv - x.abs_adv * drpo_penalty(x) / (2 * p.delta)


def mask_drpo(x, p):
    """Mask-DRPO (DRPO ablation, Fig. 11): plain PG inside DPPO's TV region ``s Δ ≤ δ_mask``, the
    DRPO penalty outside it. The sources do not state the boundary; we use DPPO-TV's, frozen, so
    the weight jumps from 1 to ``1 − δ_mask/δ`` there (checked in proofs)."""
    outside = x.sg(x.s * x.shift) > p.delta_mask
    penalty = x.ops.where(outside, drpo_penalty(x), 0 * x.adv)
    return x.r * x.adv - x.abs_adv * penalty / (2 * p.delta)


def drpo_no_abs_adv(x, p):
    """DRPO without the |Â| factor (ablation, Fig. 4): ``J = r Â − μ (r − 1)² / (2δ)``;
    ``w = 1 − Δ / (Â δ)``, unbounded as Â → 0."""
    return x.r * x.adv - drpo_penalty(x) / (2 * p.delta)


DELTA = Param("delta", 12.5, "DRPO penalty scale δ (paper's runs: 12.5; DPPO-consistent: 0.15)",
              low=0.0, symbol="delta", source="DRPO (arXiv 2606.09821) experimental setup, δ = 12.5 in all runs")

#: The "DPPO-consistent" trust-region sizes of the figures and the simulator: DRPO's δ at DPPO-TV's
#: δ (0.15), SPO's ε at PPO's ε_l (0.2).
DPPO_CONSISTENT = {"drpo": {"delta": DPPO_TV_DELTA}, "mask_drpo": {"delta": DPPO_TV_DELTA},
                   "drpo_no_abs_adv": {"delta": DPPO_TV_DELTA}, "spo": {"eps": EPS_LOW.default}}

METHODS = (
    Method("spo", "quadratic_penalty", "SPO (Simple Policy Optimization)",
           "SPO (Xie et al., arXiv 2401.16025) eq. 11", spo,
           params=(Param("eps", 12.5, "SPO penalty scale ε (DRPO paper's baseline: 12.5)", low=0.0,
                         symbol="epsilon", source="DRPO (arXiv 2606.09821) experimental setup: SPO "
                                                  "baseline ε = 12.5"),)),
    Method("drpo", "quadratic_penalty", "DRPO (divergence-regularised PO)",
           "DRPO (arXiv 2606.09821) eq. 6", drpo, params=(DELTA,)),
    Method("mask_drpo", "quadratic_penalty", "Mask-DRPO (penalty only outside DPPO's region)",
           "DRPO (arXiv 2606.09821) §5 ablation, Fig. 11", mask_drpo,
           params=(DELTA, Param("delta_mask", DPPO_TV_DELTA, "DPPO-TV boundary where the penalty switches on",
                                low=0.0, symbol="delta_m",
                                source="our choice: DPPO-TV's δ (DRPO §5 does not state the boundary)"))),
    Method("drpo_no_abs_adv", "quadratic_penalty", "DRPO without the |Â| factor",
           "DRPO (arXiv 2606.09821) §5 ablation, Fig. 4", drpo_no_abs_adv, params=(DELTA,)),
)
