"""In expectation over a ~ μ, DRPO's penalty is the |Â|-weighted squared ℓ₂ distance.

``E_{a∼μ}[|Â(a)| μ(a) (r(a) − 1)²] = Σ_a |Â(a)| (π(a) − μ(a))²`` (up to DRPO's 1/(2δ)), checked
symbolically over a generic vocabulary of V = 4 tokens (independent symbols μ_a > 0, π_a ≥ 0,
A_a), using the registry's penalty expression ``Δ (r − 1)`` per token.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_penalty_expectation_l2"
STATEMENT = "E_{a∼μ}[|Â| μ (r − 1)²] = Σ_a |Â(a)| (π(a) − μ(a))² (DRPO's penalty is an |Â|-weighted ℓ₂²)."
SOURCE = "DRPO (arXiv 2606.09821) §3; docs/papers.md#drpo"
METHOD = "symbolic (generic vocabulary V = 4)"
V = 4


def penalty_expectation(per_token):
    """``(E_{a∼μ}[per_token(μ_a, π_a, A_a)], μ, π, A)`` over V generic tokens."""
    import sympy as sp

    mu = sp.symbols(f"mu1:{V + 1}", positive=True)
    pi = sp.symbols(f"pi1:{V + 1}", nonnegative=True)
    adv = sp.symbols(f"A1:{V + 1}", real=True)
    return sum(m * per_token(m, p, a) for m, p, a in zip(mu, pi, adv)), mu, pi, adv


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import methods, symbolic as S

    # the registry's DRPO penalty term: (J_pg − J_drpo)·2δ/|Â| as a function of (π, μ)
    j = S.objective("drpo").subs(S.ELL_SG, S.ELL)
    delta = S.param_symbols(methods.get("drpo"))["delta"]
    pen = sp.simplify(((sp.exp(S.ELL - S.ELL_MU) * S.ADV - j) * 2 * delta / sp.Abs(S.ADV))
                      .subs({S.ELL: sp.log(S.PI), S.ELL_MU: sp.log(S.MU)}))
    per_token = lambda m, p, a: sp.Abs(a) * pen.subs({S.PI: p, S.MU: m}, simultaneous=True)  # noqa: E731
    lhs, mu, pi, adv = penalty_expectation(per_token)
    rhs = sum(sp.Abs(a) * (p - m) ** 2 for m, p, a in zip(mu, pi, adv))
    if not proving.is_zero_exact(lhs - rhs):
        return proving.failed("E_μ[penalty] ≠ Σ|Â|(π−μ)²", {"difference": str(sp.simplify(lhs - rhs))})
    return proving.proved({"summary": f"identity holds symbolically over V = {V} generic tokens",
                           "per_token_penalty": str(pen), "expectation": str(rhs)})
