"""SPO's per-sample optimum is ``π* = μ (1 + s ε)`` (a ratio trust region, not DRPO's shift one).

Maximise ``J(π) = (π/μ) Â − a (π/μ − 1)²/(2ε)``, Â = s a. It lies in (0, 1] iff μ(1 + ε) ≤ 1
(s = +1) or ε < 1 (s = −1): at the DRPO paper's ε = 12.5 the negative-advantage optimum
``μ(1 − 12.5) < 0`` is never a probability, and the positive one only for μ ≤ 1/13.5.
"""
from __future__ import annotations

from drpo_analysis import proving

ID = "spo_stationary_point"
STATEMENT = ("SPO per-sample objective has the unique stationary point π* = μ(1 + sε), a strict maximum; "
             "it is a probability iff μ(1+ε) ≤ 1 (Â > 0) or ε < 1 (Â < 0).")
SOURCE = "SPO (arXiv 2401.16025) §4; REFERENCE.md 'SPO's is π* = μ(1 + sε)'"
METHOD = "symbolic"


def check() -> proving.ProofResult:
    import sympy as sp

    out = {}
    for s in (1, -1):
        j, sym = proving.objective_of("spo", s)   # the registry objective, Â = s·a
        pi, mu, a, eps = sym["pi"], sym["mu"], sym["a"], sym["eps"]
        crit = sp.solve(sp.diff(j, pi), pi)
        second = sp.simplify(sp.diff(j, pi, 2))
        if len(crit) != 1 or not proving.is_zero_exact(crit[0] - mu * (1 + s * eps)):
            return proving.failed(f"s={s}: stationary points {crit}", {"s": s, "critical": str(crit)})
        if not second.is_negative:
            return proving.failed("not a strict maximum", {"s": s, "second": str(second)})
        out[f"s={s:+d}"] = {"pi_star": str(crit[0]), "d2J/dpi2": str(second)}
    return proving.proved({"summary": "π* = μ(1 + sε), d²J/dπ² = −a/(εμ²) < 0", **out,
                           "at_eps_12.5": "s=+1: inside iff μ ≤ 2/27 ≈ 0.074; s=−1: never (π* = −11.5 μ)"})
