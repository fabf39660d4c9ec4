"""SPO's weight ``w = 1 − s (r − 1)/ε = 1 − sΔ/(εμ)`` is unbounded as μ → 0 at a fixed shift.

In contrast DRPO's weight at the same shift stays ``1 − sΔ/δ``. Evaluated on the DPPO paper's
motivating rare token (μ = 1e-4 → π = 1e-2, Â > 0) at ε = δ = 12.5.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "spo_weight_unbounded"
STATEMENT = ("SPO: at fixed shift Δ ≠ 0, w = 1 − sΔ/(εμ) → −s·sign(Δ)·∞ as μ → 0⁺ (unbounded), while "
             "DRPO's w = 1 − sΔ/δ does not depend on μ.")
SOURCE = "SPO (arXiv 2401.16025) eq. 11; DRPO (arXiv 2606.09821) Fig. 1; docs/methods.md#spo"
METHOD = "symbolic (limits) + exact evaluation"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("spo")
    eps = p["eps"]
    d = sp.Symbol("Delta", real=True)
    w_shift = sp.simplify(w.subs(S.PI, S.MU + d))
    if not proving.is_zero_exact(w_shift - (1 - S.SIGN * d / (eps * S.MU))):
        return proving.failed("SPO weight ≠ 1 − sΔ/(εμ)", {"w": str(w_shift)})
    lims = {}
    for s in (1, -1):
        for dv in ("1/100", "-1/100"):
            e = w_shift.subs({S.SIGN: s, d: sp.Rational(dv), eps: sp.Rational(25, 2)})
            lim = sp.limit(e, S.MU, 0, dir="+")
            expected = -s * sp.sign(sp.Rational(dv)) * sp.oo
            lims[f"s={s:+d}, Delta={dv}"] = str(lim)
            if lim != expected:
                return proving.failed("SPO weight bounded as μ → 0", {"s": s, "Delta": dv, "limit": str(lim)})
    q = sp.Rational
    ex = {S.PI: q(1, 100), S.MU: q(1, 10**4), S.SIGN: 1}
    w_spo = w.subs({**ex, eps: q(25, 2)})
    w_drpo = proving.weight_of("drpo", delta="12.5")[0].subs(ex)
    return proving.proved({"summary": f"|w| → ∞ as μ → 0⁺ at fixed Δ (all 4 sign cases); at μ = 1e-4 → π = 1e-2, "
                                      f"ε = δ = 12.5: SPO w = {w_spo} = {float(w_spo):.3f}, DRPO w = {float(w_drpo):.6f}",
                           "limits": lims, "spo_w_example": str(w_spo), "drpo_w_example": str(w_drpo)})
