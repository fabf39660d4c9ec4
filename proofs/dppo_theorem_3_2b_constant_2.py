"""A tighter variant of DPPO Theorem 3.2 (b): the constant 4 can be halved.

Claim: ``J(π) − J(μ) ≥ L′ − 2 ξ E_μ[Σ_t D_TV(s_t)]``. For T = 2 it follows by hand:
``Δ = Σ_{a₁} (π₁ − μ₁)(a₁) h(a₁)`` with ``|h(a₁)| ≤ 2ξ D_TV(s₂(a₁)) ≤ 2ξ``, so
``Δ ≤ 2ξ [Σ (π₁ − μ₁)⁺ + Σ μ₁ D_TV(s₂)] = 2ξ E_μ[D_TV(s₁) + D_TV(s₂)]``. For T = 3 it is checked
here only by exact enumeration and adversarial search (same search as ``dppo_theorem_3_2``), so
it is stated as our claim, not the paper's, and is not asserted by the project.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "dppo_theorem_3_2b_constant_2"
STATEMENT = ("Tighter Thm 3.2 (b): J(π) − J(μ) ≥ L′ − 2ξ E_μ[Σ_t D_TV(s_t)] (constant 2 instead of 4); "
             "proof sketch for T = 2, exact enumeration + adversarial search for T ≤ 3.")
SOURCE = "this project, refining DPPO (arXiv 2602.04879) Theorem 3.2"
METHOD = "exact rational enumeration (240 random instances + adversarial hill climbing; no general proof)"
ASSERTED = False


def check() -> proving.ProofResult:
    thm = proving.load_claim(proving.proofs_dir() / "dppo_theorem_3_2.py").module
    worst, searched, bad = thm.search(constants={"a": 2, "b": 2}, which=("b",), seed=3203)
    if bad:
        return proving.failed("constant 2 is too small", bad)
    return proving.proved({"summary": f"no violation with constant 2; max Δ/bound: random {worst['b']:.3f}, "
                                      f"adversarial {max(searched.values()):.3f}",
                           "max_ratio_adversarial": searched})
