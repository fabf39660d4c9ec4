"""DRPO's weight is bounded over the whole domain: ``w ∈ [1 − 1/δ, 1 + 1/δ]`` (since |Δ| ≤ 1).

``w = 1 − s(π − μ)/δ`` is affine in (π, μ), so over the closed box [0, 1]² its extrema are at
the four vertices (checked exactly for each sign s). The extreme values need (π, μ) = (1, 0) or
(0, 1): μ = 0 cannot be sampled and π = 0 is ℓ = −∞, so on the actual domain π, μ ∈ (0, 1] the
bounds are the infimum and supremum (tight, approached) but not attained. The tight per-token
range at fixed μ is ``[1 − (1 − μ)/δ, 1 + μ/δ)`` for s = +1 and ``(1 − μ/δ, 1 + (1 − μ)/δ]`` for
s = −1 (π ∈ (0, 1]).
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_weight_bounds"
STATEMENT = ("DRPO: for all π, μ ∈ (0, 1] and both signs of Â, 1 − 1/δ < w < 1 + 1/δ; the bounds are "
             "tight (infimum/supremum, approached as (π, μ) → (1, 0) or (0, 1)) but not attained.")
SOURCE = "DRPO (arXiv 2606.09821) abstract/code comments; docs/claims.md#drpo-paper"
METHOD = "symbolic (affine function on a box: extrema at vertices, exact)"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("drpo")
    delta = p["delta"]
    lo, hi = 1 - 1 / delta, 1 + 1 / delta
    vertices = [(0, 0), (0, 1), (1, 0), (1, 1)]
    per_sign = {}
    for s in (1, -1):
        ws = w.subs(S.SIGN, s)
        # affine in (π, μ): all second derivatives vanish
        if any(sp.simplify(sp.diff(ws, a, b)) != 0 for a in (S.PI, S.MU) for b in (S.PI, S.MU)):
            return proving.failed("w is not affine in (π, μ)", {"s": s, "w": str(ws)})
        vals = {v: sp.simplify(ws.subs({S.PI: v[0], S.MU: v[1]})) for v in vertices}
        attained = {v: val for v, val in vals.items()
                    if proving.is_zero_exact(val - lo) or proving.is_zero_exact(val - hi)}
        if any(not (proving.is_zero_exact(val - lo) or proving.is_zero_exact(val - hi)
                    or proving.is_zero_exact(val - 1)) for val in vals.values()):
            return proving.failed("a vertex value lies outside {1 − 1/δ, 1, 1 + 1/δ}",
                                  {"s": s, "vertex_values": {str(k): str(v) for k, v in vals.items()}})
        # the extreme vertices are outside the sampled domain (μ = 0 or π = 0)
        inside = [v for v in attained if v[0] > 0 and v[1] > 0]
        if inside:
            return proving.failed("a bound is attained inside the domain", {"s": s, "vertex": inside[0]})
        per_sign[f"s={s:+d}"] = {
            "vertex_values": {f"(pi={v[0]}, mu={v[1]})": str(val) for v, val in vals.items()},
            "range_at_fixed_mu": [str(sp.simplify(ws.subs(S.PI, 1 if s > 0 else 0))),
                                  str(sp.simplify(ws.subs(S.PI, 0 if s > 0 else 1)))],
        }
    numbers = {str(d): [float(lo.subs(delta, d)), float(hi.subs(delta, d))]
               for d in (sp.Rational(25, 2), sp.Rational(3, 20), sp.Rational(1, 5))}
    return proving.proved({"summary": "1 − 1/δ < w < 1 + 1/δ on π, μ ∈ (0,1]; extremes only at "
                                      "(π, μ) = (1, 0) / (0, 1) (outside the domain): tight, not attained",
                           "per_sign": per_sign, "bounds_at_delta": numbers})
