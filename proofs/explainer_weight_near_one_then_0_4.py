"""Explainer claim: DRPO's weight "at the boundary it's near 1, and at 1.5δ it has attenuated to
roughly 0.4". (The explainer labels its numbers illustrative; we test them anyway.)

DRPO's weight is affine in x = sΔ: w(x) = 1 − x/δ, so for any boundary b,
``w(1.5 b) = 1 − 1.5 (1 − w(b))``: if w(b) ≥ 0.9 ("near 1") then w(1.5 b) ≥ 0.85, never ≈ 0.4;
and w(1.5b) = 0.4 forces w(b) = 0.6. No choice of δ and boundary makes both numbers true.
Evaluated at the two natural readings: b = δ (DRPO's own boundary): w = 0 and −½; b = 0.15
(DPPO's δ) with the paper's δ = 12.5: w = 0.988 and 0.982.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "explainer_weight_near_one_then_0_4"
STATEMENT = ("Explainer: DRPO's weight is near 1 at the boundary and ≈ 0.4 at 1.5δ "
             "(tested: w(1.5b) = 1 − 1.5(1 − w(b)) for any boundary b).")
SOURCE = "public illustrated DRPO explainer (docs/papers.md#the-explainer; numbers labelled illustrative)"
METHOD = "symbolic (exact evaluation)"
ASSERTED = False  # a claim under test, not one the project makes


def check() -> proving.ProofResult:
    import sympy as sp

    x, b, delta = sp.symbols("x b delta", positive=True)
    w = proving.weight_of("drpo")[0]
    from drpo_analysis.core import symbolic as S
    wx = sp.simplify(w.subs(proving.weight_of("drpo")[1]["delta"], delta).subs(S.PI, S.MU + S.SIGN * x)
                     .expand().subs(S.SIGN ** 2, 1))
    identity = sp.simplify(wx.subs(x, sp.Rational(3, 2) * b) - (1 - sp.Rational(3, 2) * (1 - wx.subs(x, b))))
    q = sp.Rational
    readings = {
        "b = δ (DRPO's own boundary), any δ": (wx.subs(x, delta), wx.subs(x, q(3, 2) * delta)),
        "b = 0.15 (DPPO's δ), δ = 12.5": (wx.subs({x: q(3, 20), delta: q(25, 2)}),
                                          wx.subs({x: q(9, 40), delta: q(25, 2)})),
        "b = 0.15, δ = 0.15": (wx.subs({x: q(3, 20), delta: q(3, 20)}), wx.subs({x: q(9, 40), delta: q(3, 20)})),
    }
    rows = {k: {"w(b)": str(sp.simplify(a)), "w(1.5b)": str(sp.simplify(c))} for k, (a, c) in readings.items()}
    holds = any(abs(float(a) - 1) <= 0.1 and abs(float(c) - 0.4) <= 0.1
                for a, c in readings.values() if a.is_number and c.is_number)
    if identity != 0:
        return proving.ProofResult("error", f"affine identity failed: {identity}")
    return proving.verdict(holds, {"summary": "w(1.5b) = 1 − 1.5(1 − w(b)): 'near 1' at b forces ≥ 0.85 at 1.5b; "
                                              "DRPO gives 0 and −0.5 at its own boundary, 0.988 and 0.982 at "
                                              "DPPO's 0.15 with δ = 12.5", "readings": rows},
                           {"readings": rows, "note": "w(1.5b) = 0.4 requires w(b) = 0.6"})
