"""Pinsker's inequality ``TV(μ, π) ≤ √(KL(μ‖π)/2)``, and what it says about DPPO's two masks.

Symbolic for two outcomes: ``f(π) = KL_bin(μ‖π) − 2(π − μ)²`` has ``f(μ) = 0`` and
``f'(π) = (π − μ)(1 − 2π)² / (π(1 − π))``, so f decreases then increases around π = μ and is
≥ 0. The general case reduces to it: TV = |μ(S) − π(S)| for S = {π > μ}, and KL ≥ the binary KL
of the partition {S, Sᶜ} (claim ``dppo_partition_divergences_le_full``). Confirmed numerically on
long-tailed rows at V = 151,936. Consequence: DPPO's Binary-KL mask at δ = 0.05 admits shifts up
to |Δ| ≤ √(0.05/2) ≈ 0.158 at most, close to the Binary-TV threshold 0.15.
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.claims import proving

ID = "pinsker"
STATEMENT = ("Pinsker: TV(μ, π) ≤ √(KL(μ‖π)/2); symbolic for two outcomes (hence Binary-KL ≥ 2Δ²), "
             "randomised at V = 151936.")
SOURCE = "DPPO (arXiv 2602.04879) §3-4 (TV and KL trust regions); Pinsker's inequality, docs/papers.md#divergences"
METHOD = "symbolic (two outcomes) + randomised numeric (V = 151936)"


def check() -> proving.ProofResult:
    import sympy as sp

    pi, mu = sp.symbols("pi mu", positive=True)
    kl = mu * sp.log(mu / pi) + (1 - mu) * sp.log((1 - mu) / (1 - pi))
    f = kl - 2 * (pi - mu) ** 2
    fp = sp.diff(f, pi)
    target = (pi - mu) * (1 - 2 * pi) ** 2 / (pi * (1 - pi))
    if sp.simplify(f.subs(pi, mu)) != 0 or not proving.is_zero_exact(sp.together(fp - target)):
        return proving.failed("binary Pinsker derivative identity fails", {"f'(pi)": str(sp.factor(fp))})
    part = proving.load_claim(proving.proofs_dir() / "dppo_partition_divergences_le_full.py").module
    rng = np.random.default_rng(7)
    worst = 0.0
    for mu_v, pi_v in part.long_tailed_rows(rng, 3, part.BIG_V):
        t = 0.5 * np.abs(pi_v - mu_v).sum()
        k = float(np.sum(mu_v * (np.log(mu_v) - np.log(pi_v))))
        worst = max(worst, t / np.sqrt(k / 2))
        if t > np.sqrt(k / 2) * (1 + 1e-12):
            return proving.failed("TV > √(KL/2)", {"tv": t, "kl": k})
    return proving.proved({"summary": f"binary case symbolic (f' = (π−μ)(1−2π)²/(π(1−π))); V = 151936 rows: "
                                      f"max TV/√(KL/2) = {worst:.3f}; Binary-KL δ = 0.05 ⇒ |Δ| ≤ {np.sqrt(0.025):.3f}",
                           "f_prime": str(sp.factor(fp))})
