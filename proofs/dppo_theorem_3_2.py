"""DPPO Theorem 3.2: both lower bounds on ``J(π) − J(μ)``.

(a) ``J(π) − J(μ) ≥ L′ − 2 ξ T (T − 1) (D_TV^max)²``;
(b) ``J(π) − J(μ) ≥ L′ − 4 ξ E_μ[Σ_t D_TV(μ(·|s_t), π(·|s_t))]``, ξ = max |R|.

Equivalently ``Δ(μ, π) ≤ bound``. Checked by exact enumeration with rational arithmetic on
random instances AND by an adversarial search (random-restart hill climbing over the policies
and rewards) that maximises ``Δ / bound``: a ratio above 1 would be an exact counterexample.
The maximal ratio found also measures how tight each constant is (close to 1 for (a) at T = 2;
about ½ for (b): its constant 4 looks loose by ~2× on these instances — an observation, not a
proof of the optimal constant).
"""
from __future__ import annotations

import random

from drpo_analysis.claims import proving

ID = "dppo_theorem_3_2"
STATEMENT = ("DPPO Thm 3.2: J(π) − J(μ) ≥ L′ − 2ξT(T−1)(D_TV^max)² and J(π) − J(μ) ≥ L′ − "
             "4ξ E_μ[Σ_t D_TV(s_t)] on every finite-horizon instance (ξ = max|R|).")
SOURCE = "DPPO (arXiv 2602.04879) Theorem 3.2; docs/papers.md#theorems-31-and-32"
METHOD = ("exact rational enumeration (240 random instances + adversarial hill climbing, "
          "V ∈ {2,3}, T ∈ {2,3})")
N_INSTANCES = 240
SHAPES = [(2, 2), (3, 2), (2, 3), (3, 3)]


PAPER_CONSTANTS = {"a": 2, "b": 4}


def bounds(m, constants=PAPER_CONSTANTS):
    """``{"a": c_a ξT(T−1)D_max², "b": c_b ξ E_μ[Σ_t D_TV]}`` (paper: c_a = 2, c_b = 4)."""
    t = m.horizon
    return {"a": constants["a"] * m.xi * t * (t - 1) * m.tv_max ** 2,
            "b": constants["b"] * m.xi * m.expected_tv_sum}


def ratio(m, which, constants=PAPER_CONSTANTS):
    """``Δ / bound`` (0 when the bound is 0 and Δ = 0; +inf-like 10⁹ when only the bound is 0)."""
    from fractions import Fraction

    b = bounds(m, constants)[which]
    if b == 0:
        return Fraction(0) if m.correction <= 0 else Fraction(10**9)
    return m.correction / b


def search(constants=PAPER_CONSTANTS, which=("a", "b"), seed=3202):
    """Random instances, then adversarial hill climbing, maximising Δ/bound for each bound.

    Returns ``(max ratio over random instances, max ratio per searched shape, counterexample or
    None)``; a counterexample is an exact instance with Δ/bound > 1.
    """
    from drpo_analysis.core.exact_sequences import hill_climb, random_model

    rng = random.Random(seed)
    worst = {w: 0.0 for w in which}

    def counterexample(w, q, m, how):
        return {"bound": w, "constants": dict(constants), "found_by": how, "Delta_over_bound": str(q),
                "Delta": str(m.correction), "bound_value": str(bounds(m, constants)[w]), "instance": m.as_dict()}
    for i in range(N_INSTANCES):
        v, t = SHAPES[i % len(SHAPES)]
        m = random_model(rng, v, t)
        for w in which:
            q = ratio(m, w, constants)
            worst[w] = max(worst[w], float(q))
            if q > 1:
                return worst, {}, counterexample(w, q, m, "random instance")
    searched = {}
    for w in which:
        for v, t in ((2, 2), (3, 2), (2, 3)):
            q, m = hill_climb(lambda mm: ratio(mm, w, constants), rng, v, t, restarts=3, steps=150)
            searched[f"({w}) V={v} T={t}"] = float(q)
            if q > 1:
                return worst, searched, counterexample(w, q, m, "adversarial search")
    return worst, searched, None


def check() -> proving.ProofResult:
    worst, searched, bad = search()
    if bad:
        return proving.failed(f"bound ({bad['bound']}) violated: Δ/bound = {bad['Delta_over_bound']}", bad)
    top = {w: max(v for k, v in searched.items() if k.startswith(f"({w})")) for w in ("a", "b")}
    return proving.proved({
        "summary": f"no violation in {N_INSTANCES} random instances + adversarial search; max Δ/bound "
                   f"found: (a) {top['a']:.3f}, (b) {top['b']:.3f} (constant of (b) loose by ~{1 / top['b']:.1f}× "
                   "on these instances; see dppo_theorem_3_2b_constant_2)",
        "max_ratio_random": worst, "max_ratio_adversarial": searched})
