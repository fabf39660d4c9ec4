"""The data model of a method: parameters, the per-token objective, and the view of a token.

A method's per-token objective ``J`` (maximised; the loss is ``-J``) is written **once**, as a
function ``objective(x, p)`` of a :class:`TokenView` ``x`` and a parameter namespace ``p``. The
view is built over a *backend* (``ops``) that decides what the arithmetic means:

* the SymPy backend (``drpo_analysis.core.symbolic``) turns the objective into an expression in
  ``ℓ = log π`` (the only differentiable input), its frozen copy ``sg(ℓ)``, ``ℓ_μ = log μ``, ``Â``
  and the parameters; the gradient weight is derived from it;
* the numpy backend (``drpo_analysis.core.losses_np``) evaluates the objective's value in float64;
* the torch backend (``drpo_analysis.core.losses_torch``) evaluates it with autograd, ``sg`` being
  ``detach``.

So the symbolic, numpy and torch faces cannot drift apart by construction, and the proofs check
that autograd through the torch face equals the derived weight anyway.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from drpo_analysis.core.validate import real_scalar


@dataclass(frozen=True)
class Param:
    """A named method parameter with its admissible interval and the papers' default."""

    name: str
    default: float
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = True
    high_open: bool = False
    symbol: str | None = None  # LaTeX-ish display name, e.g. "\\delta"

    def check(self, value: Any) -> float:
        return real_scalar(self.name, value, low=self.low, high=self.high,
                           low_open=self.low_open, high_open=self.high_open)


@dataclass(frozen=True)
class Extra:
    """An extra per-token input some methods need (Top-K sets, sequence-level ratios)."""

    name: str
    doc: str
    trailing: int = 0  # number of trailing axes beyond the token shape (Top-K: 1, [..., K])


@dataclass(frozen=True)
class Method:
    """One registered method: the single source of truth for every face of the toolkit."""

    name: str
    family: str
    title: str
    source: str                       # paper and equation
    objective: Callable[["TokenView", SimpleNamespace], Any]
    params: tuple[Param, ...] = ()
    extras: tuple[Extra, ...] = ()
    value_meaningful: bool = True     # False: only the gradient is specified (CISPO, GPG, ...)
    notes: str = ""
    # Loss-value form used by implementations in the wild when it differs from -J.
    tags: tuple[str, ...] = field(default_factory=tuple)

    def resolve_params(self, params: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Defaults overridden by ``params``; unknown names and out-of-range values raise."""
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping of parameter names to numbers (or None), "
                            f"got {type(params).__name__}; accepted names for {self.name!r}: "
                            f"{[p.name for p in self.params] or 'none'}")
        params = dict(params or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for method {self.name!r}; "
                             f"accepted: {sorted(known) or 'none'}")
        out = {p.name: p.default for p in self.params}
        for k, v in params.items():
            out[k] = known[k].check(v)
        return out


class TokenView:
    """Per-token quantities of the papers' notation, computed through a backend ``ops``.

    ``ell`` = ℓ = log π (differentiable), ``ell_mu`` = ℓ_μ = log μ, ``adv`` = Â. Every derived
    quantity is cached, so an objective can use ``x.r`` twice at the cost of one ``exp``.
    """

    def __init__(self, ops, ell, ell_mu, adv, extras: Mapping[str, Any] | None = None):
        self.ops = ops
        self.ell = ell
        self.ell_mu = ell_mu
        self.adv = adv
        self.extras = dict(extras or {})

    # --- the papers' notation -------------------------------------------------------------
    @cached_property
    def log_ratio(self):
        """log r = ℓ − ℓ_μ (the torch face clamps it to the dtype's exp range, see losses_torch)."""
        return self.ops.clamp_log_ratio(self.ell - self.ell_mu)

    @cached_property
    def r(self):
        """Importance ratio r = π/μ."""
        return self.ops.exp(self.log_ratio)

    @cached_property
    def pi(self):
        """π, probability of the sampled token under the trained policy."""
        return self.ops.exp(self.ell)

    @cached_property
    def mu(self):
        """μ, probability of the sampled token under the behaviour (rollout) policy."""
        return self.ops.exp(self.ell_mu)

    @cached_property
    def shift(self):
        """Δ = π − μ, the absolute probability shift of DPPO and DRPO."""
        return self.pi - self.mu

    @cached_property
    def s(self):
        """s = sign(Â)."""
        return self.ops.sign(self.adv)

    @cached_property
    def abs_adv(self):
        return self.ops.abs(self.adv)

    def sg(self, expr):
        """Stop-gradient."""
        return self.ops.sg(expr)

    def extra(self, name: str):
        return self.ops.extra(self, name)

    def topk_divergence(self, kind: str):
        """DPPO Top-K divergence over top-K(μ) ∪ {sampled} ∪ {rest} (a frozen quantity)."""
        return self.ops.topk_divergence(self, kind)


def make_namespace(values: Mapping[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**values)
