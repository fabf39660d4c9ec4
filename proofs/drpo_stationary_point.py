"""DRPO's per-sample optimum is ``π* = μ + s δ`` (DPPO's boundary), a strict maximum.

For one sampled token with fixed μ and Â = s a (a > 0), maximise ``J(π) = (π/μ) Â − a μ (π/μ −
1)² / (2δ)`` over π: ``dJ/dπ = 0`` has the single root μ + sδ and ``d²J/dπ² = −a/(μδ) < 0``. It
lies in (0, 1] iff δ ≤ 1 − μ (s = +1) or δ < μ (s = −1); otherwise J is monotone on (0, 1] and
the constrained optimum is the edge π = 1 (s = +1) or π → 0 (s = −1), as for plain PG.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_stationary_point"
STATEMENT = ("DRPO per-sample objective in π has the unique stationary point π* = μ + sδ, a strict "
             "maximum; it lies in (0, 1] iff δ ≤ 1 − μ (Â > 0) or δ < μ (Â < 0), else the optimum is "
             "the edge of the simplex.")
SOURCE = "DRPO (arXiv 2606.09821) §3; docs/papers.md#drpo"
METHOD = "symbolic"


def check() -> proving.ProofResult:
    out, fail = proving.stationary_maximum(
        "drpo",
        pi_star=lambda v, s: v["mu"] + s * v["delta"],
        second=lambda v, s: -v["a"] / (v["mu"] * v["delta"]))
    if fail:
        return fail
    return proving.proved({"summary": "π* = μ + sδ, d²J/dπ² = −a/(μδ) < 0 (strict max)", **out,
                           "inside_simplex_iff": "s=+1: δ ≤ 1 − μ; s=−1: δ < μ",
                           "at_delta_12.5": "never inside (μ + 12.5 > 1, μ − 12.5 < 0): the optimum is the "
                                            "edge, as for unregularised PG"})
