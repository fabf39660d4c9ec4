"""In expectation over a ~ μ, SPO's penalty is the |Â|-weighted χ² divergence.

``E_{a∼μ}[|Â(a)| (r(a) − 1)²] = Σ_a |Â(a)| (π(a) − μ(a))² / μ(a)`` (up to 1/(2ε)); with constant
|Â| this is |Â|·χ²(π‖μ). Checked symbolically over a generic vocabulary of V = 4 tokens.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "spo_penalty_expectation_chi2"
STATEMENT = "E_{a∼μ}[|Â| (r − 1)²] = Σ_a |Â(a)| (π(a) − μ(a))²/μ(a) (SPO's penalty is an |Â|-weighted χ²)."
SOURCE = "SPO (arXiv 2401.16025); DRPO (arXiv 2606.09821) §3; docs/papers.md#spo"
METHOD = "symbolic (generic vocabulary V = 4)"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import methods, symbolic as S

    j = S.objective("spo").subs(S.ELL_SG, S.ELL)
    eps = S.param_symbols(methods.get("spo"))["eps"]
    pen = sp.simplify(((sp.exp(S.ELL - S.ELL_MU) * S.ADV - j) * 2 * eps / sp.Abs(S.ADV))
                      .subs({S.ELL: sp.log(S.PI), S.ELL_MU: sp.log(S.MU)}))
    l2 = proving.load_claim(proving.proofs_dir() / "drpo_penalty_expectation_l2.py").module
    per_token = lambda m, p, a: sp.Abs(a) * pen.subs({S.PI: p, S.MU: m}, simultaneous=True)  # noqa: E731
    lhs, mu, pi, adv = l2.penalty_expectation(per_token)
    rhs = sum(sp.Abs(a) * (p - m) ** 2 / m for m, p, a in zip(mu, pi, adv))
    if not proving.is_zero_exact(lhs - rhs):
        return proving.failed("E_μ[penalty] ≠ Σ|Â|(π−μ)²/μ", {"difference": str(sp.simplify(lhs - rhs))})
    return proving.proved({"summary": f"identity holds symbolically over V = {l2.V} generic tokens",
                           "per_token_penalty": str(pen), "expectation": str(rhs)})
