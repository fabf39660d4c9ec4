"""Mask-DRPO's weight jumps at its switch-on boundary from 1 to ``1 − δ_m/δ``.

Our Mask-DRPO (DRPO Fig. 11 ablation; the boundary is not stated in the sources, we use
DPPO-TV's, ``s Δ = δ_m``) is plain PG inside and DRPO outside, so its weight is discontinuous
with jump ``δ_m/δ`` — unlike DRPO. At the paper's δ = 12.5 with δ_m = 0.15 the jump is 0.012.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "mask_drpo_jump"
STATEMENT = ("Mask-DRPO (penalty only for sΔ > δ_m): the weight jumps from 1 to 1 − δ_m/δ at sΔ = δ_m "
             "(one-sided limits, both signs of Â); the jump is δ_m/δ (0.012 at δ = 12.5, δ_m = 0.15).")
SOURCE = "DRPO (arXiv 2606.09821) §5, Fig. 11 (Mask-DRPO ablation); boundary choice ours"
METHOD = "symbolic (branch-wise one-sided limits) + exact rational probes"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    d = sp.Symbol("d", real=True)
    rows = []
    for delta, dm in (("12.5", "0.15"), ("0.15", "0.05"), ("0.2", "0.15")):
        w, _ = proving.weight_of("mask_drpo", delta=delta, delta_mask=dm)
        jump = 1 - sp.Rational(dm) / sp.Rational(delta)
        for s in (1, -1):
            mu = sp.Rational(1, 2)
            e = w.subs({S.SIGN: s, S.ADV: s, S.MU: mu, S.PI: mu + d})
            at = s * sp.Rational(dm)
            lim, probe = S.one_sided_limits(e, d, at), S.rational_probe(e, d, at)
            lim_io = lim if s > 0 else lim[::-1]
            row = {"delta": delta, "delta_mask": dm, "s": s, "limits_inside_outside": [str(x) for x in lim_io],
                   "expected": ["1", str(jump)]}
            probe_io = probe if s > 0 else probe[::-1]
            if lim_io != (1, jump) or abs(probe_io[0] - 1) > sp.Rational(1, 10**9) \
                    or abs(probe_io[1] - jump) > sp.Rational(1, 10**9):
                return proving.failed("jump differs from 1 → 1 − δ_m/δ", row)
            rows.append(row)
    return proving.proved({"summary": "inside limit 1, outside limit 1 − δ_m/δ (jump δ_m/δ) for 3 (δ, δ_m) "
                                      "and both signs; jump 0.012 at δ = 12.5, δ_m = 0.15", "cases": rows})
