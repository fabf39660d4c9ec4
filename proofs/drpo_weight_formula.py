"""DRPO's gradient weight is ``w = 1 − s Δ / δ``, derived from the paper's objective.

Derivation independent of the registry's display code: take the paper's objective (eq. 6)
``J = r Â − |Â| μ (r − 1)² / (2δ)`` with ``r = exp(ℓ − ℓ_μ)``, write ``Â = s a`` (``a > 0``) for
each sign ``s = ±1``, differentiate in ``ℓ`` and divide by ``Â r``. We also check that the
registry's numerically stable objective ``Δ (r − 1)`` equals the paper's ``μ (r − 1)²`` and that
the registry's derived weight is the same expression.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_weight_formula"
STATEMENT = "DRPO (eq. 6): ∂J/∂ℓ = Â r (1 − s Δ/δ), i.e. w = 1 − s(π − μ)/δ, for both signs of Â."
SOURCE = "DRPO (arXiv 2606.09821) eq. 6 and Table 1; docs/methods.md#drpo"
METHOD = "symbolic"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import methods, symbolic as S

    ell, ell_mu = S.ELL, S.ELL_MU
    pi, mu = sp.symbols("pi mu", positive=True)
    a, delta = sp.symbols("a delta", positive=True)
    r = sp.exp(ell - ell_mu)
    expected = {}
    for s in (1, -1):
        adv = s * a
        j_paper = r * adv - a * sp.exp(ell_mu) * (r - 1) ** 2 / (2 * delta)
        w = sp.diff(j_paper, ell) / (adv * r)
        w = sp.simplify(w.subs({ell: sp.log(pi), ell_mu: sp.log(mu)}))
        target = 1 - s * (pi - mu) / delta
        if not proving.is_zero_exact(w - target):
            return proving.failed(f"s={s}: derived w = {w}, expected {target}", {"s": s, "w": str(w)})
        expected[s] = str(w)
    # the registry's objective equals the paper's eq. 6 (stable rewrite Δ(r−1) = μ(r−1)²)
    p = S.param_symbols(methods.get("drpo"))
    j_reg = S.objective("drpo").subs(S.ELL_SG, ell)
    j_paper = r * S.ADV - sp.Abs(S.ADV) * sp.exp(ell_mu) * (r - 1) ** 2 / (2 * p["delta"])
    if not proving.is_zero_exact(j_reg - j_paper):
        return proving.failed("registry objective differs from eq. 6", {"registry": str(j_reg)})
    # the registry's displayed weight is the same formula
    w_reg = S.weight("drpo")
    if not proving.is_zero_exact(w_reg - (1 - S.SIGN * (S.PI - S.MU) / p["delta"])):
        return proving.failed("registry weight differs", {"registry_weight": str(w_reg)})
    return proving.proved({"summary": "w = 1 − sΔ/δ derived from eq. 6 for s = ±1; registry objective "
                                      "and displayed weight agree symbolically",
                           "derived": {f"s={k:+d}": v for k, v in expected.items()},
                           "registry_weight": str(w_reg)})
