"""DRPO's weight crosses zero exactly at ``s Δ = δ``, which is DPPO-TV's mask boundary.

Solve ``w = 0`` for π symbolically; then show DPPO Binary-TV's weight (δ_low = δ_high = δ) jumps
exactly there: its one-sided limits at ``s Δ = δ`` are (1, 0), computed branch-wise
(``symbolic.one_sided_limits``) and confirmed by exact rational probes
(``symbolic.rational_probe``) at several exact (μ, δ). Reachability: the crossing
``π = μ + s δ`` is a probability only if δ ≤ 1 − μ (s = +1) or δ < μ (s = −1); for δ ≥ 1 it
is never reached.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_zero_crossing"
STATEMENT = ("DRPO: w = 0 iff s Δ = δ (π = μ + sδ), the same place where DPPO Binary-TV's weight "
             "jumps from 1 to 0; the crossing lies in π ∈ (0, 1] iff δ ≤ 1 − μ (Â > 0) or δ < μ (Â < 0).")
SOURCE = "DRPO (arXiv 2606.09821) §3 ('same trust-region geometry as DPPO'); DPPO eq. 11"
METHOD = "symbolic (solve; branch-wise one-sided limits) + exact rational probes"

POINTS = [("1/2", "3/20"), ("1/1000", "3/20"), ("9/10", "1/20"), ("3/10", "1/5")]


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("drpo")
    delta = p["delta"]
    roots = {}
    for s in (1, -1):
        sol = sp.solve(sp.Eq(w.subs(S.SIGN, s), 0), S.PI)
        if len(sol) != 1 or not proving.is_zero_exact(sol[0] - (S.MU + s * delta)):
            return proving.failed(f"s={s}: w = 0 at π = {sol}", {"s": s, "solutions": str(sol)})
        roots[f"s={s:+d}"] = f"pi = {sol[0]}"
    d = sp.Symbol("d", real=True)  # the shift Δ
    jumps = []
    for mu_s, delta_s in POINTS:
        mu0, d0 = sp.Rational(mu_s), sp.Rational(delta_s)
        for s in (1, -1):
            if not (0 < mu0 + s * d0 <= 1):
                continue
            wt, _ = proving.weight_of("dppo_binary_tv", delta_low=delta_s, delta_high=delta_s)
            e = wt.subs({S.ADV: s, S.MU: mu0}).subs(S.PI, mu0 + d)
            at = s * d0
            lim = S.one_sided_limits(e, d, at)
            probe = S.rational_probe(e, d, at)
            inner, outer = (lim if s > 0 else lim[::-1]), (probe if s > 0 else probe[::-1])
            w_drpo = w.subs({S.SIGN: s, S.MU: mu0, delta: d0, S.PI: mu0 + at})
            row = {"mu": mu_s, "delta": delta_s, "s": s, "dppo_limits_inside_outside": [str(x) for x in inner],
                   "dppo_probe_inside_outside": [str(x) for x in outer], "drpo_w_at_boundary": str(w_drpo)}
            if tuple(inner) != (1, 0) or tuple(outer) != (1, 0) or w_drpo != 0:
                return proving.failed("DPPO-TV boundary and DRPO zero differ", row)
            jumps.append(row)
    return proving.proved({"summary": f"w = 0 exactly at π = μ + sδ; DPPO-TV weight jumps 1 → 0 there "
                                      f"({len(jumps)} exact (μ, δ, s) cases, limits and probes agree)",
                           "roots": roots, "cases": jumps,
                           "reachable_iff": "s=+1: δ ≤ 1 − μ; s=−1: δ < μ (never for δ ≥ 1)"})
