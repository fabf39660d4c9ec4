"""Exact enumeration of a finite-horizon autoregressive policy pair (μ, π) with rational arithmetic.

The DPPO paper's performance-difference results (arXiv 2602.04879, Theorems 3.1 and 3.2) are
statements about every sequence ``y = (a_1, …, a_T)`` over a vocabulary of ``V`` tokens with a
sequence reward ``R(y)``, the state ``s_t`` being the prefix ``(a_1, …, a_{t−1})`` (γ = 1). On a
small vocabulary and horizon every quantity is a finite sum, so with :class:`fractions.Fraction`
the theorems can be checked *exactly*:

* ``J(p) = Σ_y P_p(y) R(y)``,
* ``L′_μ(π) = E_μ[R(y) Σ_t (r_t − 1)]``, ``Δ(μ, π) = E_μ[R(y) Σ_t (r_t − 1)(1 − Π_{j>t} r_j)]``,
* ``D_TV(s) = ½ Σ_a |π(a|s) − μ(a|s)|``, ``D_TV^max = max_s D_TV(s)``,
  ``E_μ[Σ_t D_TV(s_t)]``, ``ξ = max_y |R(y)|``.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

Prefix = tuple[int, ...]


@dataclass(frozen=True)
class SequenceModel:
    """Per-prefix policies ``mu[prefix]``, ``pi[prefix]`` (tuples of V Fractions summing to 1) and
    rewards ``reward[y]`` for every full sequence y of length ``horizon``."""

    vocab: int
    horizon: int
    mu: dict[Prefix, tuple[Fraction, ...]]
    pi: dict[Prefix, tuple[Fraction, ...]]
    reward: dict[Prefix, Fraction]

    def __post_init__(self):
        if self.vocab < 2 or self.horizon < 1:
            raise ValueError(f"vocab must be >= 2 and horizon >= 1, got {self.vocab}, {self.horizon}")
        for name, pol in (("mu", self.mu), ("pi", self.pi)):
            for pre in self.prefixes:
                dist = pol.get(pre)
                if dist is None or len(dist) != self.vocab or sum(dist) != 1 or min(dist) < 0:
                    raise ValueError(f"{name}[{pre}] must be a distribution over {self.vocab} tokens")
        if any(p == 0 for d in self.mu.values() for p in d):
            raise ValueError("mu must give every token positive probability (ratios r = π/μ)")

    @cached_property
    def prefixes(self) -> list[Prefix]:
        return [p for t in range(self.horizon) for p in itertools.product(range(self.vocab), repeat=t)]

    @cached_property
    def sequences(self) -> list[Prefix]:
        return list(itertools.product(range(self.vocab), repeat=self.horizon))

    def prob(self, policy: dict, y: Prefix) -> Fraction:
        out = Fraction(1)
        for t, a in enumerate(y):
            out *= policy[y[:t]][a]
        return out

    def ratios(self, y: Prefix) -> list[Fraction]:
        """``r_t = π(a_t|s_t)/μ(a_t|s_t)`` along ``y``."""
        return [self.pi[y[:t]][a] / self.mu[y[:t]][a] for t, a in enumerate(y)]

    def J(self, policy: dict) -> Fraction:
        return sum((self.prob(policy, y) * self.reward[y] for y in self.sequences), Fraction(0))

    @cached_property
    def surrogate(self) -> Fraction:
        """``L′_μ(π) = E_μ[R Σ_t (r_t − 1)]``."""
        return sum((self.prob(self.mu, y) * self.reward[y] * sum(r - 1 for r in self.ratios(y))
                    for y in self.sequences), Fraction(0))

    @cached_property
    def correction(self) -> Fraction:
        """``Δ(μ, π) = E_μ[R Σ_t (r_t − 1)(1 − Π_{j>t} r_j)]``."""
        total = Fraction(0)
        for y in self.sequences:
            rs = self.ratios(y)
            inner = Fraction(0)
            for t in range(len(rs)):
                tail = Fraction(1)
                for r in rs[t + 1:]:
                    tail *= r
                inner += (rs[t] - 1) * (1 - tail)
            total += self.prob(self.mu, y) * self.reward[y] * inner
        return total

    def tv(self, prefix: Prefix) -> Fraction:
        return sum((abs(p - m) for p, m in zip(self.pi[prefix], self.mu[prefix])), Fraction(0)) / 2

    @cached_property
    def tv_max(self) -> Fraction:
        return max(self.tv(p) for p in self.prefixes)

    @cached_property
    def expected_tv_sum(self) -> Fraction:
        """``E_μ[Σ_t D_TV(μ(·|s_t), π(·|s_t))]``."""
        return sum((self.prob(self.mu, p) * self.tv(p) for p in self.prefixes), Fraction(0))

    @cached_property
    def xi(self) -> Fraction:
        return max(abs(r) for r in self.reward.values())

    @cached_property
    def by_recursion(self) -> dict[Prefix, dict[str, Fraction]]:
        """``V^μ, V^π, L′, Δ, D̄`` at every state ``s`` by the one-step recursions (conditioning on
        the first action ``a``; ``G_a = V^π_a − V^μ_a``)::

            V^μ(s) = Σ_a μ_a V^μ_a,  V^π(s) = Σ_a π_a V^π_a,  L′(s) = Σ_a [(π_a − μ_a) V^μ_a + μ_a L′_a],
            Δ(s) = Σ_a [μ_a Δ_a + (μ_a − π_a) G_a],  D̄(s) = D_TV(s) + Σ_a μ_a D̄_a,

        from a full sequence's ``V^μ = V^π = R``, ``L′ = Δ = D̄ = 0``. At the root they must equal
        ``J(μ)``, ``J(π)``, :attr:`surrogate`, :attr:`correction`, :attr:`expected_tv_sum`.
        """
        zero = Fraction(0)
        out = {y: {"Vmu": self.reward[y], "Vpi": self.reward[y], "L": zero, "Delta": zero, "Dbar": zero}
               for y in self.sequences}
        for pre in reversed(self.prefixes):  # children before parents
            kids = [out[pre + (a,)] for a in range(self.vocab)]
            mu, pi = self.mu[pre], self.pi[pre]
            out[pre] = {
                "Vmu": sum((mu[a] * c["Vmu"] for a, c in enumerate(kids)), zero),
                "Vpi": sum((pi[a] * c["Vpi"] for a, c in enumerate(kids)), zero),
                "L": sum(((pi[a] - mu[a]) * c["Vmu"] + mu[a] * c["L"] for a, c in enumerate(kids)), zero),
                "Delta": sum((mu[a] * c["Delta"] + (mu[a] - pi[a]) * (c["Vpi"] - c["Vmu"])
                              for a, c in enumerate(kids)), zero),
                "Dbar": self.tv(pre) + sum((mu[a] * c["Dbar"] for a, c in enumerate(kids)), zero),
            }
        return out

    def as_dict(self) -> dict:
        """A JSON-able description (strings of Fractions) for counterexamples."""
        def d(pol):
            return {"".join(map(str, k)) or "root": [str(x) for x in v] for k, v in pol.items()}
        return {"vocab": self.vocab, "horizon": self.horizon, "mu": d(self.mu), "pi": d(self.pi),
                "reward": {"".join(map(str, k)): str(v) for k, v in self.reward.items()}}


def random_distribution(rng: random.Random, vocab: int, *, positive: bool, spread: int) -> tuple[Fraction, ...]:
    """A random rational distribution; ``spread`` sets how skewed it can be (weights 1..spread,
    or 0..spread when zeros are allowed)."""
    while True:
        w = [rng.randint(1 if positive else 0, spread) for _ in range(vocab)]
        if sum(w):
            s = sum(w)
            return tuple(Fraction(x, s) for x in w)


def random_model(rng: random.Random, vocab: int, horizon: int, *, spread: int = 20,
                 reward_den: int = 10) -> SequenceModel:
    """Random rational μ (positive), π (zeros allowed) and rewards in [−1, 1]."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    prefixes = [p for t in range(horizon) for p in itertools.product(range(vocab), repeat=t)]
    sp = lambda: rng.choice([2, spread, 10 * spread])  # noqa: E731 - mix mild and skewed policies
    mu = {p: random_distribution(rng, vocab, positive=True, spread=sp()) for p in prefixes}
    pi = {p: random_distribution(rng, vocab, positive=False, spread=sp()) for p in prefixes}
    reward = {y: Fraction(rng.randint(-reward_den, reward_den), reward_den)
              for y in itertools.product(range(vocab), repeat=horizon)}
    return SequenceModel(vocab, horizon, mu, pi, reward)
