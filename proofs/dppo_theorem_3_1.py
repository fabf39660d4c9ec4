"""DPPO Theorem 3.1 (finite horizon, γ = 1): ``J(π) − J(μ) = L′_μ(π) − Δ(μ, π)`` exactly.

Checked by exact enumeration of every sequence with rational arithmetic
(:mod:`drpo_analysis.core.exact_sequences`) on random instances: vocabularies of 2–3 tokens, horizons
1–3, random rational μ (positive), π (zeros allowed, skewed and mild) and rewards in [−1, 1].
(The identity is a telescoping sum: ``Σ_t (r_t − 1) Π_{j>t} r_j = Π_t r_t − 1``.)
"""
from __future__ import annotations

import random

from drpo_analysis.claims import proving

ID = "dppo_theorem_3_1"
STATEMENT = ("DPPO Thm 3.1: J(π) − J(μ) = L′_μ(π) − Δ(μ, π) with L′ = E_μ[R Σ_t (r_t − 1)] and "
             "Δ = E_μ[R Σ_t (r_t − 1)(1 − Π_{j>t} r_j)], exactly, for every finite-horizon instance.")
SOURCE = "DPPO (arXiv 2602.04879) Theorem 3.1; docs/papers.md#theorems-31-and-32"
METHOD = "exact rational enumeration (300 random instances, V ∈ {2,3}, T ∈ {1,2,3})"
N_INSTANCES = 300
SHAPES = [(2, 1), (3, 1), (2, 2), (3, 2), (2, 3), (3, 3)]


def check() -> proving.ProofResult:
    from drpo_analysis.core.exact_sequences import random_model

    rng = random.Random(2602)
    for i in range(N_INSTANCES):
        v, t = SHAPES[i % len(SHAPES)]
        m = random_model(rng, v, t)
        lhs, rhs = m.J(m.pi) - m.J(m.mu), m.surrogate - m.correction
        if lhs != rhs:
            return proving.failed("identity violated", {"J(pi)-J(mu)": str(lhs), "L'-Delta": str(rhs),
                                                        "instance": m.as_dict()})
    return proving.proved({"summary": f"exact equality on {N_INSTANCES} random rational instances "
                                      f"(shapes V×T {SHAPES})"})
