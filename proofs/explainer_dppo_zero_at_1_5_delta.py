"""Explainer claim: DPPO "contributes a gradient weight of exactly 0" at 1.5δ.

Exact evaluation of DPPO Binary-TV's derived weight at |Δ| = 1.5δ (δ = 0.15, several μ): 0 when
the update diverges (sΔ = +1.5δ), but 1 when it converges (sΔ = −1.5δ): the mask only drops
updates that move π further out of the trust region.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "explainer_dppo_zero_at_1_5_delta"
STATEMENT = ("Explainer: DPPO's weight is exactly 0 at 1.5δ — true for diverging shifts sΔ = 1.5δ; for "
             "converging shifts sΔ = −1.5δ the weight is 1.")
SOURCE = "public illustrated DRPO explainer (docs/papers.md#the-explainer); DPPO eq. 11"
METHOD = "symbolic (exact evaluation)"
ASSERTED = False


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, _ = proving.weight_of("dppo_binary_tv", delta_low="0.15", delta_high="0.15")
    x = sp.Rational(3, 2) * sp.Rational(3, 20)
    rows = []
    for mu in ("1/2", "3/10", "7/10"):
        for s in (1, -1):
            for direction in (1, -1):
                pi = sp.Rational(mu) + direction * s * x
                val = w.subs({S.ADV: s, S.MU: sp.Rational(mu), S.PI: pi})
                rows.append({"mu": mu, "s": s, "s*Delta": str(direction * x), "w": str(val)})
    diverging = {r["w"] for r in rows if not r["s*Delta"].startswith("-")}
    converging = {r["w"] for r in rows if r["s*Delta"].startswith("-")}
    ok = diverging == {"0"}
    return proving.verdict(ok, {"summary": f"w = {sorted(diverging)} at sΔ = +1.5δ (diverging), "
                                           f"w = {sorted(converging)} at sΔ = −1.5δ (converging)", "cases": rows},
                           {"cases": [r for r in rows if r["w"] != "0"]})
