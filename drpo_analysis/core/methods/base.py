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
    """A named method parameter with its admissible interval and the papers' default.

    The registry is the one place paper hyperparameters live: ``source`` cites where the default
    comes from (arXiv number and equation or section, or "our choice" and why), ``reported`` lists
    other values the cited paper reports (DPPO's scaling-run δ = 0.2).
    """

    name: str
    default: float
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = True
    high_open: bool = False
    symbol: str | None = None  # LaTeX-ish display name, e.g. "\\delta"
    source: str = ""
    reported: tuple[float, ...] = ()

    def check(self, value: Any) -> float:
        return real_scalar(self.name, value, low=self.low, high=self.high,
                           low_open=self.low_open, high_open=self.high_open)


@dataclass(frozen=True)
class BatchInputs:
    """The batch-level inputs every extra is built from (numpy arrays or torch tensors).

    Each :class:`Extra` has one builder, a function of these, written against the array
    namespace ``xp`` (numpy or torch) so the float64 reference and the training loss share it.
    """

    logp: Any                 # [B, T] ℓ = log π of the sampled tokens
    logp_mu: Any              # [B, T] ℓ_μ = log μ
    mask: Any                 # [B, T] bool, False = padding
    topk_logp_mu: Any = None  # [B, T, K] log μ of the tokens in top-K(μ) ∪ {sampled}
    topk_logp: Any = None     # [B, T, K] log π of the same tokens


@dataclass(frozen=True)
class Extra:
    """An extra per-token input some methods need (Top-K sets, sequence-level ratios).

    It knows everything a tool needs to handle it without knowing the method: its admissible
    values (``low``/``high``, ``allow_neg_inf``), its stand-in at masked positions (``fill``), its
    SymPy symbol when the objective reads it directly, its one builder from :class:`BatchInputs`,
    and whether it moves with the token's own ℓ (``moves_with_ell``: the oracle's one-sided values
    shift it along with ℓ, so a kink carried by the extra is crossed).
    """

    name: str
    doc: str
    build: Callable[[Any, BatchInputs], Any]   # (xp, batch) -> [B, T] (+ trailing axes)
    trailing: int = 0          # number of trailing axes beyond the token shape (Top-K: 1, [..., K])
    symbol: str | None = None  # SymPy name when the objective reads the extra itself
    low: float | None = None
    high: float | None = None
    allow_neg_inf: bool = False
    fill: float = 0.0          # value at masked positions (trailing extras: a uniform log-prob set)
    moves_with_ell: bool = False
    coordinate: str | None = None  # "log_ratio": a boundary on this extra is one on a log-ratio
    reads: tuple[str, ...] = ("logp", "logp_mu", "mask")   # the BatchInputs fields it reads

    def value(self, extras: Mapping[str, Any]):
        """The quantity the objective sees, from the per-token extras."""
        return extras[self.name]


@dataclass(frozen=True)
class Statistic:
    """A frozen per-token quantity computed from extra inputs (DPPO's Top-K divergence): the
    objective reads it as one symbol; the numeric faces compute it with ``compute``."""

    name: str
    doc: str
    symbol: str
    inputs: tuple[Extra, ...]
    compute: Callable[..., Any]   # (*input arrays) -> [...], array-namespace generic
    low: float | None = None
    high: float | None = None
    coordinate: str | None = None

    def value(self, extras: Mapping[str, Any]):
        return self.compute(*(extras[e.name] for e in self.inputs))


def build_extras(method: "Method", batch: BatchInputs) -> dict[str, Any]:
    """Every extra input of ``method`` from the batch-level inputs, by each extra's own builder."""
    from drpo_analysis.core.validate import array_namespace

    xp = array_namespace(batch.logp)
    out = {}
    for e in method.extras:
        missing = [f for f in e.reads if getattr(batch, f) is None]
        if missing:
            raise ValueError(f"method {method.name!r}: extra {e.name!r} is built from {missing}, "
                             "which the batch does not provide")
        out[e.name] = e.build(xp, batch)
    return out


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
    statistics: tuple[Statistic, ...] = ()  # frozen quantities computed from the extras

    def __post_init__(self):
        if self.statistics and not self.extras:   # the statistics' inputs are the extras
            inputs = {e.name: e for s in self.statistics for e in s.inputs}
            object.__setattr__(self, "extras", tuple(inputs.values()))

    @property
    def arguments(self) -> tuple[Extra | Statistic, ...]:
        """The frozen per-token quantities the objective reads, each one SymPy symbol (and one
        argument of the compiled kernels, in this order)."""
        return tuple(e for e in self.extras if e.symbol) + self.statistics

    def argument_values(self, extras: Mapping[str, Any]) -> list:
        """The values of :attr:`arguments` from the per-token extras."""
        return [q.value(extras) for q in self.arguments]

    def check_statistic_shapes(self, shapes: Mapping[str, tuple]) -> None:
        """The inputs of one statistic must list the same tokens (Top-K: the same K)."""
        for stat in self.statistics:
            got = {e.name: tuple(shapes[e.name]) for e in stat.inputs}
            if len(set(got.values())) > 1:
                raise ValueError(" and ".join(f"{k}{list(v)}" for k, v in got.items())
                                 + " must list the same K tokens (same shape)")

    @property
    def batch_fields(self) -> frozenset[str]:
        """The :class:`BatchInputs` fields the method's extras are built from."""
        return frozenset(f for e in self.extras for f in e.reads)

    @property
    def per_sequence(self) -> bool:
        """True when an extra is built from the whole row (GSPO's sequence ratio): a token's
        gradient then depends on the other tokens of its sequence."""
        return "mask" in self.batch_fields

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"method {self.name!r} has no parameter {name!r}; "
                         f"accepted: {[p.name for p in self.params] or 'none'}")

    def default(self, name: str) -> float:
        """The paper default of parameter ``name`` (see :attr:`Param.source`)."""
        return self.param(name).default

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

    def extra(self, quantity: "Extra | Statistic"):
        """A frozen extra quantity (an :class:`Extra` or a :class:`Statistic` of extras)."""
        return self.ops.extra(self, quantity)


def make_namespace(values: Mapping[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**values)
