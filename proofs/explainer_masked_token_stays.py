"""Explainer: "a masked token stays wherever it drifted" — false for a softmax policy.

DPPO's mask zeroes the masked token's OWN gradient term (its weight is exactly 0 past the
boundary, ``explainer_dppo_zero_at_1_5_delta``), but its probability still moves: every other
sampled token's update changes the shared normaliser. Exact counterexample: a softmax policy
over three tokens with logits ``z = (0, 0, 0)``; token 0 is masked, token 1 is sampled with
``Â = 1``; one gradient step ``z ← z + η Â ∇_z log π₁ = z + η (e₁ − π)`` with ``η = 1`` moves
``π₀`` from 1/3 to ``1/(2 + e)`` (checked exactly with SymPy: ≠ 1/3, and smaller, certified by
interval arithmetic). What does hold: nothing pulls the masked token back
towards μ — its own contribution is zero.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "explainer_masked_token_stays"
STATEMENT = "Explainer: a token masked by DPPO's trust region stays wherever it drifted (its probability no longer moves)."
SOURCE = "popular DRPO explainer (illustrated), on DPPO's mask"
METHOD = "symbolic (exact softmax gradient step) + interval (sign of the change)"
ASSERTED = False


def check() -> proving.ProofResult:
    import sympy as sp

    z = sp.Matrix([0, 0, 0])
    pi = lambda v: sp.Matrix([sp.exp(x) for x in v]) / sum(sp.exp(x) for x in v)  # noqa: E731
    e1 = sp.Matrix([0, 1, 0])
    step = e1 - pi(z)                       # ∇_z log π₁ at z, times Â = 1, η = 1; token 0 contributes 0 (masked)
    after = sp.simplify(pi(z + step)[0])
    change = sp.simplify(after - sp.Rational(1, 3))
    sign = proving.interval_sign(change)
    if change == 0:
        return proving.proved({"summary": "the masked token's probability did not move in the example"})
    return proving.failed(
        f"a masked token moves: π₀ goes 1/3 → {after} ({'down' if sign < 0 else 'up'}) when another sampled token "
        "is updated; what holds is only that its own gradient term is 0",
        {"logits": "(0, 0, 0)", "masked": 0, "updated": "token 1, Â = 1, η = 1", "pi0_after": str(after),
         "pi0_change": str(change), "pi0_change_float": float(change)})
