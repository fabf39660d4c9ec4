"""SPO's per-sample optimum is ``π* = μ (1 + s ε)`` (a ratio trust region, not DRPO's shift one).

Maximise ``J(π) = (π/μ) Â − a (π/μ − 1)²/(2ε)``, Â = s a. It lies in (0, 1] iff μ(1 + ε) ≤ 1
(s = +1) or ε < 1 (s = −1): at the DRPO paper's ε = 12.5 the negative-advantage optimum
``μ(1 − 12.5) < 0`` is never a probability, and the positive one only for μ ≤ 1/13.5.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "spo_stationary_point"
STATEMENT = ("SPO per-sample objective has the unique stationary point π* = μ(1 + sε), a strict maximum; "
             "it is a probability iff μ(1+ε) ≤ 1 (Â > 0) or ε < 1 (Â < 0).")
SOURCE = "SPO (arXiv 2401.16025) §4; docs/papers.md#spo"
METHOD = "symbolic"


def check() -> proving.ProofResult:
    out, fail = proving.stationary_maximum(
        "spo",
        pi_star=lambda v, s: v["mu"] * (1 + s * v["eps"]),
        second=lambda v, s: -v["a"] / (v["eps"] * v["mu"] ** 2))
    if fail:
        return fail
    return proving.proved({"summary": "π* = μ(1 + sε), d²J/dπ² = −a/(εμ²) < 0", **out,
                           "at_eps_12.5": "s=+1: inside iff μ ≤ 2/27 ≈ 0.074; s=−1: never (π* = −11.5 μ)"})
