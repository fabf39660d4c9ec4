"""DPPO: ``TV(μ, π) = ½ E_{a∼μ} |r(a) − 1|``, so PPO's per-sample ``|r − 1|`` estimates 2·TV.

Symbolic over a generic vocabulary of V = 5 tokens (μ_a > 0, π_a ≥ 0): ``μ |π/μ − 1| = |π − μ|``.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "dppo_tv_identity"
STATEMENT = "TV(μ, π) = ½ Σ_a |π(a) − μ(a)| = ½ E_{a∼μ}|r(a) − 1| (so E_μ|r − 1| = 2·TV)."
SOURCE = "DPPO (arXiv 2602.04879) §3; docs/papers.md#divergences"
METHOD = "symbolic (generic vocabulary V = 5)"
V = 5


def check() -> proving.ProofResult:
    import sympy as sp

    mu = sp.symbols(f"mu1:{V + 1}", positive=True)
    pi = sp.symbols(f"pi1:{V + 1}", nonnegative=True)
    lhs = sum(m * sp.Abs(p / m - 1) for m, p in zip(mu, pi)) / 2
    rhs = sum(sp.Abs(p - m) for m, p in zip(mu, pi)) / 2
    diff = sp.simplify(lhs - rhs)
    if diff != 0:
        return proving.failed("½E_μ|r−1| ≠ TV", {"difference": str(diff)})
    return proving.proved({"summary": f"½ E_μ|r − 1| simplifies to ½ Σ|π − μ| over V = {V} generic tokens",
                           "tv": str(rhs)})
