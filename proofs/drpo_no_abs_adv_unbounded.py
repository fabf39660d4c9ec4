"""Without the |Â| factor DRPO's weight ``w = 1 − Δ/(Â δ)`` is unbounded as Â → 0 at fixed Δ ≠ 0.

The penalty ``μ (r − 1)²/(2δ)`` no longer scales with |Â|, so per unit of ``Â r`` the corrective
term grows like 1/Â: small-advantage tokens are dominated by the penalty (the ablation the DRPO
paper reports as worse, Fig. 4).
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_no_abs_adv_unbounded"
STATEMENT = ("DRPO without |Â|: w = 1 − Δ/(Âδ); for fixed Δ ≠ 0, w → ∓∞ as Â → 0±, so the weight is "
             "unbounded (while the gradient Â r w → −rΔ/δ stays finite).")
SOURCE = "DRPO (arXiv 2606.09821) §5, Fig. 4 (|Â| ablation)"
METHOD = "symbolic (limits)"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("drpo_no_abs_adv")
    delta = p["delta"]
    target = 1 - (S.PI - S.MU) / (S.ADV * delta)
    if not proving.is_zero_exact(w - target):
        return proving.failed("weight differs from 1 − Δ/(Âδ)", {"w": str(w)})
    rows = {}
    for shift in ("1/10", "-1/10"):
        point = {delta: sp.Rational(25, 2), S.MU: sp.Rational(1, 2), S.PI: sp.Rational(1, 2) + sp.Rational(shift)}
        lo, hi = S.one_sided_limits(w.subs(point), S.ADV, 0)
        g = sp.limit((S.ADV * (S.PI / S.MU) * w).subs(point), S.ADV, 0)  # ∂J/∂ℓ = Â r w
        rows[f"Delta={shift}"] = {"lim_A->0-": str(lo), "lim_A->0+": str(hi), "gradient_limit": str(g)}
        if not ({lo, hi} == {sp.oo, -sp.oo}) or not g.is_finite:
            return proving.failed("weight bounded or gradient infinite as Â → 0", rows[f"Delta={shift}"])
    return proving.proved({"summary": "w → ±∞ as Â → 0∓ at fixed Δ ≠ 0 (δ = 12.5, μ = 1/2); gradient stays finite",
                           "cases": rows})
