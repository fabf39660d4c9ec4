"""At the δ the DRPO paper actually runs (δ = 12.5), its trust-region mechanics are unreachable.

Because |Δ| < 1 for every sampled token, at δ = 12.5: (i) ``w = 1 − sΔ/12.5 ∈ (0.92, 1.08)``, so
the weight never reaches 0, never turns corrective, and differs from plain PG-IS (w ≡ 1) by less
than 8%; (ii) the per-sample optimum ``μ + s·12.5`` is never a probability; (iii) at DPPO-TV's
boundary |Δ| = 0.15 the DRPO weight is 1 ∓ 0.012. The zero crossing / corrective regime needs
δ < 1 (per token: δ ≤ 1 − μ for Â > 0, δ < μ for Â < 0). Exact, for every (π, μ) ∈ (0, 1]².
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_paper_delta_regime"
STATEMENT = ("DRPO at the paper's δ = 12.5: for all π, μ ∈ (0,1], 0.92 < w < 1.08 (never 0 or negative), "
             "π* = μ ± 12.5 ∉ [0,1], and |w − 1| = |Δ|/12.5 ≤ 0.012 at DPPO's boundary |Δ| = 0.15; the "
             "zero crossing exists only for δ < 1.")
SOURCE = "DRPO (arXiv 2606.09821) experimental setup (δ = 12.5) vs its §3 geometry claims"
METHOD = "symbolic (affine bounds at exact δ)"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, _ = proving.weight_of("drpo", delta="12.5")
    delta = sp.Rational(25, 2)
    corners = [w.subs({S.SIGN: s, S.PI: p, S.MU: m}) for s in (1, -1) for p in (0, 1) for m in (0, 1)]
    lo, hi = min(corners), max(corners)
    if (lo, hi) != (1 - 1 / delta, 1 + 1 / delta):
        return proving.failed("range differs from (1 − 1/δ, 1 + 1/δ)", {"range": [str(lo), str(hi)]})
    # π* = μ + sδ is affine in μ: over μ ∈ (0, 1] it spans (sδ, 1 + sδ], outside [0, 1] for both s
    pi_star_ranges = {s: (s * delta, 1 + s * delta) for s in (1, -1)}
    outside = pi_star_ranges[1][0] >= 1 and pi_star_ranges[-1][1] < 0
    at_boundary = {f"s={s:+d}": str(w.subs({S.SIGN: s, S.PI: sp.Rational(1, 2) + sp.Rational(3, 20),
                                            S.MU: sp.Rational(1, 2)})) for s in (1, -1)}
    if lo <= 0 or not outside:
        return proving.failed("zero crossing or interior optimum reachable at δ = 12.5",
                              {"range": [str(lo), str(hi)],
                               "pi_star_ranges": {k: [str(a), str(b)] for k, (a, b) in pi_star_ranges.items()}})
    return proving.proved({"summary": f"w ∈ ({float(lo)}, {float(hi)}) at δ = 12.5 (never ≤ 0); π* = μ ± 12.5 ∉ [0,1]; "
                                      f"w at Δ = +0.15 = {at_boundary['s=+1']} (Â>0)",
                           "range": [str(lo), str(hi)], "w_at_dppo_boundary": at_boundary})
