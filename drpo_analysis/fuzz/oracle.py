"""The oracle: what ``∂loss/∂ℓ`` and the loss value of a conforming implementation must be.

For a batch with mask ``m`` and an aggregation mode with weights ``a`` (every mode is linear,
:mod:`drpo_analysis.core.aggregation`), a scalar loss ``Σ a · (−J)`` has, per token,

    ∂loss/∂ℓ[b, t] = −a[b, t] · ∂J/∂ℓ[b, t]          (∂J/∂ℓ: ``losses_np.gradient``, float64)

and masked tokens get exactly 0. The loss value ``Σ a · (−J)`` is compared too for methods whose
value is meaningful (``Method.value_meaningful``) and implementations whose value is the
objective's (not a surrogate like ``−Â sg(r) M ℓ``).

Design choices of real implementations are options of the reference (:class:`Conventions`):

* ``log_ratio_clamp=(lo, hi)``: ``ℓ − ℓ_μ`` clamped before ``exp`` (verl: ±20, GSPO's +10),
  *as written*: ``r = exp(clamp(ℓ − ℓ_μ))`` wherever r appears, and π = μ·r, Δ = π − μ = μ(r − 1)
  too (``clamp_scope="everywhere"``, the default), so beyond the clamp the whole token is frozen
  (zero gradient), as in a literal implementation that clamps the log-ratio once and builds
  everything from it. ``clamp_scope="ratio"`` freezes only the ratio path and keeps π and Δ
  unclamped (an implementation that also reads ``exp(logp)`` directly). Derived from the same
  single definition: the objective is re-derived with a Piecewise clamp in its ``log_ratio``.
* ``statistics_clamp=(lo, hi)``: each token's ``ℓ − ℓ_μ`` clamped inside the per-sequence
  statistics (verl's ``rollout_rs`` divergences and ms-swift's sequence ratios clamp every token to
  ±20 first; verl's and SkyRL's sequence TIS clamp only the summed log-ratio: ``log_ratio_clamp``).
* ``is_truncation=C``: the frozen IS factor ``r`` of the gradient is replaced by ``min(r, C)``
  (verl DPPO's truncated IS, DPPO §5.4): ``∂J/∂ℓ · min(1, C/r)``.
* ``compare_value=False``: the returned value is a gradient device, not ``−J``.

Tolerances (:data:`TOLERANCES`) are per dtype and relative to the size of the gradient: a token
passes when ``|got − exp| ≤ atol · max|exp| + rtol · |exp|``. Near a kink the reference is also
evaluated at ``ℓ ± h·max(1, |ℓ|)`` (the one-sided values): a token passes if it matches either
side (the implementation decided the side in its own precision) or any convex combination of them
(a subgradient: ``torch.max``/``torch.min`` at an exact tie return the average of both branches'
gradients). Such tokens are counted and reported as a note, never as a failure.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np

from drpo_analysis.core import aggregation, losses_np, methods
from drpo_analysis.fuzz.strategies import Batch, Kink
from drpo_analysis.core.methods.base import BatchInputs, TokenView, build_extras, make_namespace


@dataclass(frozen=True)
class Tolerance:
    rtol: float    # relative to the token's own expected gradient
    atol: float    # relative to max |expected gradient| over the batch
    h: float       # kink margin in ℓ (relative to max(1, |ℓ|))


#: Per-dtype tolerances. fp32: ~100 ulp of a ratio exp(ℓ − ℓ_μ) with |ℓ| ≤ 30; fp64 the same (an
#: implementation may upcast half precision to float32 with a hard-coded ``.float()``, which also
#: downcasts float64 inputs); bf16/fp16: inputs are representable in the dtype, the gradient is
#: rounded to it (8 / 11 mantissa bits).
TOLERANCES = {
    "float64": Tolerance(rtol=2e-4, atol=2e-5, h=2e-5),    # as float32: code may compute in float32
    "float32": Tolerance(rtol=2e-4, atol=2e-5, h=2e-5),
    "float16": Tolerance(rtol=4e-3, atol=2e-3, h=2e-3),
    "bfloat16": Tolerance(rtol=3e-2, atol=1e-2, h=1e-2),
}


@dataclass(frozen=True)
class Conventions:
    """How an implementation aggregates and which design choices it makes (module docstring)."""

    agg: str = "token-mean"
    horizon: float | None = None                  # L_const of seq-mean-token-sum-norm
    log_ratio_clamp: tuple[float, float] | None = None
    clamp_scope: str = "everywhere"               # "ratio": π and Δ stay unclamped (docstring)
    is_truncation: float | None = None
    compare_value: bool = True
    count_empty_rows: bool = True                 # False: seq-mean modes count rows with tokens only,
                                                  # prompt-mean the groups with tokens
    statistics_clamp: tuple[float, float] | None = None   # each token's ℓ − ℓ_μ inside sequence statistics

    def global_counts(self, batch: Batch) -> dict:
        """``num_tokens`` and ``num_seqs`` of the whole batch (what splits must be given)."""
        rows = batch.shape[0] if self.count_empty_rows else int(batch.mask.any(-1).sum())
        return {"num_tokens": int(batch.mask.sum()), "num_seqs": rows}

    def agg_kwargs(self, batch: Batch, *, num_tokens=None, num_seqs=None) -> dict:
        kw: dict[str, Any] = {}
        if num_seqs is None and not self.count_empty_rows:
            num_seqs = self.global_counts(batch)["num_seqs"]
        if self.agg == "seq-mean-token-sum-norm":
            kw["horizon"] = self.horizon if self.horizon is not None else batch.shape[1]
        if self.agg == "prompt-mean":
            kw["group_ids"] = batch.group_ids
            if not self.count_empty_rows:       # G: the groups with tokens (0 when none: no groups)
                kw["num_groups"] = len(np.unique(batch.group_ids[batch.mask.any(-1)])) or None
        if num_tokens is not None and self.agg == "token-mean":
            kw["num_tokens"] = num_tokens
        if num_seqs and self.agg.startswith("seq-mean"):
            kw["num_seqs"] = num_seqs
        return kw


@dataclass
class Expected:
    """The reference for one batch: ``grad`` [B, T] = ∂loss/∂ℓ at the batch's own values (0 at
    masked tokens) and the value. The one-sided alternatives near kinks are computed only for the
    tokens that disagree with ``grad`` (:meth:`alternatives`), the value's bounds only when the
    value disagrees (:meth:`value_bounds`): the common case costs one gradient and one value."""

    grad: np.ndarray                    # [B, T]
    value: float | None                 # Σ a·(−J) (None: not compared)
    value_scale: float                  # Σ |a·J| (the value's own size)
    weights: np.ndarray                 # [B, T] aggregation weights a
    _alternatives: Callable = field(default=None, repr=False)
    _value_bounds: Callable = field(default=None, repr=False)
    _at_kink: Callable = field(default=None, repr=False)

    def at_kink(self, flat: np.ndarray) -> np.ndarray:
        """[len(flat)] bool: the token sits within the kink margin of one of the method's kinks
        (whatever the sign of Â): a piece and its clipped / masked counterpart tie there, and
        autograd may return any convex combination of their gradients (one of which is 0)."""
        return self._at_kink(flat) if self._at_kink is not None else np.zeros(len(flat), bool)

    def alternatives(self, flat: np.ndarray) -> np.ndarray:
        """[k, len(flat)] other acceptable ∂loss/∂ℓ of the tokens at flat indices (NaN: none)."""
        return self._alternatives(flat)

    def value_bounds(self) -> tuple[float, float]:
        return self._value_bounds()


def batch_extras(method: str, batch: Batch, conv: Conventions | None = None) -> dict[str, np.ndarray]:
    """Per-token extras the reference needs, each from its own builder: GSPO's frozen sequence
    statistics from the batch itself (of clamped log-ratios under ``conv.statistics_clamp``),
    Top-K sets from ``batch.extras``."""
    logp = batch.logp
    with np.errstate(invalid="ignore"):
        if conv is not None and conv.statistics_clamp is not None:
            logp = batch.logp_mu + np.clip(batch.logp - batch.logp_mu, *conv.statistics_clamp)
        b = BatchInputs(logp, batch.logp_mu, batch.mask, batch.extras.get("topk_logp_mu"),
                        batch.extras.get("topk_logp"))
        return build_extras(methods.get(method), b)


def valid_inputs(method: str, batch: Batch, conv: Conventions | None = None):
    """Flattened valid-token inputs (ℓ, ℓ_μ, Â, extras) and the flat index of valid tokens."""
    idx = np.flatnonzero(batch.mask.reshape(-1))
    ex = {k: v.reshape(-1, *v.shape[batch.logp.ndim:])[idx] for k, v in batch_extras(method, batch, conv).items()}
    return (batch.logp.reshape(-1)[idx], batch.logp_mu.reshape(-1)[idx], batch.adv.reshape(-1)[idx], ex, idx)


def token_gradient(method: str, params: Mapping[str, float], ell, ell_mu, adv, extras,
                   conv: Conventions = Conventions()) -> np.ndarray:
    """``∂J/∂ℓ`` per token [n] with the conventions' clamp and truncation applied."""
    if conv.log_ratio_clamp is None:
        g = losses_np.gradient(method, ell, ell_mu, adv, params=params, extras=extras)
    else:
        g = _clamped_gradient(method, params, conv.log_ratio_clamp, ell, ell_mu, adv, extras, conv.clamp_scope)
    if conv.is_truncation is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            lr = ell - ell_mu if conv.log_ratio_clamp is None else np.clip(ell - ell_mu, *conv.log_ratio_clamp)
            g = g * np.minimum(1.0, conv.is_truncation * np.exp(-lr))
    return g


def token_objective(method: str, params: Mapping[str, float], ell, ell_mu, adv, extras,
                    conv: Conventions = Conventions()) -> np.ndarray:
    """Per-token ``J`` [n] (float64) with the conventions' log-ratio clamp."""
    if conv.log_ratio_clamp is None:
        return losses_np.objective(method, ell, ell_mu, adv, params=params, extras=extras)
    m = methods.get(method)
    ell, ell_mu, adv, extras, p = losses_np.check_inputs(m, ell, ell_mu, adv, extras, params)
    lo, hi = conv.log_ratio_clamp

    class ClampedOps(losses_np.NumpyOps):
        @staticmethod
        def clamp_log_ratio(e):
            return np.clip(e, lo, hi)

    view = clamped_view(conv.clamp_scope)(ClampedOps, ell, ell_mu, adv, extras)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.asarray(m.objective(view, make_namespace(p)), dtype=np.float64)


class _RatioEverywhere(TokenView):
    """A clamp as written: π = μ·r with the clamped r, so Δ = μ(r − 1) is frozen beyond it too."""

    @property
    def pi(self):
        return self.mu * self.r


def clamped_view(scope: str) -> type[TokenView]:
    if scope not in CLAMP_SCOPES:
        raise ValueError(f"clamp_scope must be one of {', '.join(CLAMP_SCOPES)}, got {scope!r}")
    return _RatioEverywhere if scope == "everywhere" else TokenView


CLAMP_SCOPES = ("everywhere", "ratio")


@lru_cache(maxsize=64)
def _clamped_kernel(method: str, params: tuple, lo: float, hi: float, scope: str = "everywhere"):
    """Lambdified ``∂J/∂ℓ`` of the objective whose log-ratio is clamped to [lo, hi] (Piecewise)."""
    import sympy as sp

    from drpo_analysis.core import symbolic

    m = methods.get(method)
    lo_s = sp.nsimplify(lo, rational=True) if np.isfinite(lo) else None
    hi_s = sp.nsimplify(hi, rational=True) if np.isfinite(hi) else None

    class ClampedSympyOps(symbolic.SympyOps):
        @staticmethod
        def clamp_log_ratio(e):
            pieces = ([(hi_s, e > hi_s)] if hi_s is not None else []) + \
                     ([(lo_s, e < lo_s)] if lo_s is not None else [])
            return sp.Piecewise(*pieces, (e, True)) if pieces else e

    values = {p.name: p.default for p in m.params}
    values.update(dict(params))
    ns = make_namespace({k: sp.nsimplify(v, rational=True) for k, v in values.items()})
    xs = symbolic.extra_symbols(m)
    view = clamped_view(scope)(ClampedSympyOps, symbolic.ELL, symbolic.ELL_MU, symbolic.ADV)
    J = sp.sympify(m.objective(view, ns))
    g = sp.diff(J, symbolic.ELL).subs(symbolic.ELL_SG, symbolic.ELL)
    return tuple(xs), symbolic.lambdify_numpy([symbolic.ELL, symbolic.ELL_MU, symbolic.ADV, *xs.values()], g)


def _clamped_gradient(method, params, clamp, ell, ell_mu, adv, extras, scope="everywhere"):
    m = methods.get(method)
    p = m.resolve_params(params)
    _, fn = _clamped_kernel(m.name, tuple(sorted(p.items())), float(clamp[0]), float(clamp[1]), scope)
    ell, ell_mu, adv = (np.asarray(a, dtype=np.float64) for a in (ell, ell_mu, adv))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = fn(ell, ell_mu, adv, *m.argument_values(extras))
    return np.broadcast_to(np.asarray(out, dtype=np.float64), ell.shape).copy()


def _shifted_extras(method, ex: dict, dh):
    """Frozen extras that move with ℓ (``Extra.moves_with_ell``: GSPO's sequence log-ratio, the
    Top-K log π set) shifted with it for the one-sided values, so a kink they carry is crossed;
    clipped to the extra's bounds (log-probabilities stay ≤ 0, a divergence statistic ≥ 0)."""
    out = dict(ex)
    for e in methods.get(method).extras:
        if e.moves_with_ell and e.name in ex:
            v = ex[e.name] + np.asarray(dh)[(...,) + (None,) * e.trailing]
            out[e.name] = np.clip(v, e.low, e.high) if e.low is not None or e.high is not None else v
    return out


def expected(method: str, params: Mapping[str, float] | None, batch: Batch, conv: Conventions, *,
             dtype: str = "float32", num_tokens=None, num_seqs=None) -> Expected:
    """The reference ∂loss/∂ℓ and value for ``batch`` (one-sided alternatives on demand)."""
    m = methods.get(method)
    params = m.resolve_params(params)
    tol = TOLERANCES[dtype]
    a = aggregation.aggregation_weights(batch.mask, conv.agg,
                                        **conv.agg_kwargs(batch, num_tokens=num_tokens, num_seqs=num_seqs))
    ell, ell_mu, adv, ex, idx = valid_inputs(m.name, batch, conv)
    a_flat = a.reshape(-1)[idx]
    grad = np.zeros(batch.shape)
    grad.reshape(-1)[idx] = -a_flat * token_gradient(m.name, params, ell, ell_mu, adv, ex, conv)
    with_value = m.value_meaningful and conv.compare_value
    value, scale = None, 0.0
    if with_value:
        v = -a_flat * token_objective(m.name, params, ell, ell_mu, adv, ex, conv)
        with np.errstate(invalid="ignore", over="ignore"):
            value, scale = float(v.sum()), float(np.abs(v).sum())
    pos = np.full(grad.size, -1)
    pos[idx] = np.arange(idx.size)

    def margin(e):
        return tol.h * np.maximum(1.0, np.abs(np.where(np.isfinite(e), e, 0.0)))

    def alternatives(flat):
        j = pos[np.asarray(flat)]
        e, em, ad, aj = ell[j], ell_mu[j], adv[j], a_flat[j]
        exj = {k: v[j] for k, v in ex.items()}
        h = margin(e)
        out = []
        for side in (-1.0, 1.0):
            e_s, ex_s = np.minimum(e + side * h, 0.0), _shifted_extras(m.name, exj, side * h)
            out.append(-aj * token_gradient(m.name, params, e_s, em, ad, ex_s, conv))
            out.extend(-aj * leaf_values(m.name, params, e, em, ad, exj, at=(e_s, ex_s), conv=conv))
        return np.stack(out)

    def value_bounds():
        vals = [-a_flat * token_objective(m.name, params, np.minimum(ell + s * margin(ell), 0.0), ell_mu, adv,
                                          _shifted_extras(m.name, ex, s * margin(ell)), conv) for s in (-1.0, 1.0)]
        vals = np.stack(vals + [-a_flat * token_objective(m.name, params, ell, ell_mu, adv, ex, conv)])
        with np.errstate(invalid="ignore"):
            # a one-sided value is evaluated at ℓ ± h, not at ℓ: allow for its drift over the margin
            drift = float((margin(ell) * np.abs(vals).max(0)).sum())
            return float(vals.min(0).sum()) - drift, float(vals.max(0).sum()) + drift

    ks = kinks(m.name, params)

    def at_kink(flat):
        j = pos[np.asarray(flat)]
        e, em = ell[j], ell_mu[j]
        h = 2 * margin(e)
        out = np.zeros(j.size, bool)
        with np.errstate(all="ignore"):
            lr = e - em
            if conv.log_ratio_clamp is not None:
                lr = np.clip(lr, *conv.log_ratio_clamp)
            for k in ks:
                if k.kind == "log_ratio":
                    out |= np.abs(lr - k.value) <= h
                else:
                    out |= np.abs(np.exp(em) * np.expm1(lr) - k.value) <= h * np.exp(e)
        return out

    return Expected(grad, value, scale, a, alternatives, value_bounds if with_value else None, at_kink)


@dataclass
class Disagreement:
    """Where a gradient or value disagrees with the reference."""

    what: str                     # "gradient", "masked gradient", "value"
    index: tuple | None           # worst token (b, t) for gradients
    expected: float
    got: float
    detail: str = ""


#: differences below this are rounding noise whatever the scale (a batch whose reference gradients are
#: all 0, e.g. every token clipped, has scale 0: an implementation's 1e-15 there is not a deviation)
ABS_FLOOR = 1e-12


def _close(got, exp, tol: Tolerance, scale):
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.abs(got - exp) <= tol.atol * scale + tol.rtol * np.abs(exp) + ABS_FLOOR) | (got == exp)


def compare(exp: Expected, mask: np.ndarray, grad: np.ndarray, value: float | None,
            dtype: str, notes: dict | None = None) -> Disagreement | None:
    """First disagreement of ``grad`` [B, T] / ``value`` with ``exp`` under ``dtype``'s tolerance.
    ``notes`` (a dict of counts) gets ``"subgradient at a kink"``: tokens that matched neither
    one-sided value but a convex combination of them (an exact tie, module docstring)."""
    tol = TOLERANCES[dtype]
    valid = mask.astype(bool)
    masked_bad = ~valid & (grad != 0)
    if masked_bad.any():
        i = tuple(int(v) for v in np.argwhere(masked_bad)[0])
        return Disagreement("masked gradient", i, 0.0, float(grad[i]),
                        "gradient at a masked (padding) position must be exactly 0")
    g = exp.grad
    scale = float(np.abs(g[valid & np.isfinite(g)]).max(initial=0.0))
    scale = max(scale, 1e-12 * float(np.abs(exp.weights).max(initial=0.0)), 1e-300)
    bad = valid & ~_close(grad, g, tol, scale)
    flat, alts = np.array([], int), None
    if bad.any():                         # near a kink: either side's value is acceptable
        flat = np.flatnonzero(bad.reshape(-1))
        alts = exp.alternatives(flat)
        got = grad.reshape(-1)[flat]
        alt_scale = max(scale, float(np.abs(alts[np.isfinite(alts)]).max(initial=0.0)))
        one_sided = _close(got[None], alts, tol, alt_scale).any(0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN columns: no other side
            tie = np.where(exp.at_kink(flat), 0.0, np.nan)      # the clipped piece's gradient
            cands = np.vstack([alts, g.reshape(-1)[flat][None], tie[None]])
            lo, hi = np.nanmin(cands, 0), np.nanmax(cands, 0)
            slack = tol.atol * alt_scale + tol.rtol * np.maximum(np.abs(lo), np.abs(hi))
            between = (got >= lo - slack) & (got <= hi + slack) & (hi - lo > slack)
        subgradient = ~one_sided & between
        if notes is not None and subgradient.any():
            notes["subgradient at a kink"] = notes.get("subgradient at a kink", 0) + int(subgradient.sum())
        bad.reshape(-1)[flat[one_sided | subgradient]] = False
    if bad.any():
        with np.errstate(invalid="ignore", over="ignore"):
            rel = np.where(bad, np.nan_to_num(np.abs(grad - g), nan=np.inf, posinf=np.inf) / scale, -1.0)
        i = tuple(int(v) for v in np.unravel_index(int(np.argmax(rel)), rel.shape))
        sides = ""
        k = np.flatnonzero(flat == np.ravel_multi_index(i, grad.shape))
        if alts is not None and k.size:
            other = sorted({float(f"{v:.6g}") for v in alts[:, k[0]] if np.isfinite(v)} - {float(f"{g[i]:.6g}")})
            if other:
                sides = f"; other side of a kink within the margin: {other}"
        return Disagreement("gradient", i, float(g[i]), float(grad[i]),
                        f"{int(bad.sum())} of {int(valid.sum())} valid tokens disagree (worst at {i}; "
                        f"tolerance {tol.atol:g}·max|grad| + {tol.rtol:g}·|grad|, max|grad| = {scale:.3g}{sides})")
    if exp.value is not None and value is not None:
        slack = tol.atol * exp.value_scale + tol.rtol * abs(exp.value) + 1e-300
        if not abs(value - exp.value) <= slack and value != exp.value:
            lo, hi = exp.value_bounds()
            size = max(abs(lo), abs(hi))      # the one-sided values' own size (a jump across a mask)
            slack = max(slack, tol.atol * max(exp.value_scale, size) + tol.rtol * size)
            if not (lo - slack <= value <= hi + slack):
                return Disagreement("value", None, exp.value, float(value),
                                f"loss value outside [{lo:.6g}, {hi:.6g}] ± {slack:.3g}")
    return None


# --- kinks and regions (for the samplers and the region-coverage check) -------------------------

def kinks(method: str, params: Mapping[str, float] | None = None) -> list[Kink]:
    """The method's kinks in the coordinate that defines each (log r or Δ): the boundaries where a
    condition of its Piecewise gradient switches and the gradient jumps
    (:func:`drpo_analysis.core.symbolic.kinks`), at the given parameters."""
    from drpo_analysis.core import symbolic

    m = methods.get(method)
    p = m.resolve_params(params)
    return [Kink(kind, value) for kind, value in symbolic.kinks(m.name, tuple(sorted(p.items())))]


@lru_cache(maxsize=64)
def _region_kernel(method: str, params: tuple):
    """Lambdified condition and value of every leaf of the method's (nested) Piecewise gradient."""
    import sympy as sp

    from drpo_analysis.core import symbolic

    m = methods.get(method)
    ps = symbolic.param_symbols(m)
    subs = {ps[k]: sp.nsimplify(v, rational=True) for k, v in params}
    g = symbolic.gradient(m.name).subs(subs)
    leaves: list = []

    def walk(e, path):
        if isinstance(e, sp.Piecewise):
            taken = sp.true
            for value, cond in e.args:
                walk(value, sp.And(path, taken, cond))
                taken = sp.And(taken, sp.Not(cond))
        else:
            leaves.append((path, e))
    walk(g, sp.true)
    xs = symbolic.extra_symbols(m)
    args = [symbolic.ELL, symbolic.ELL_MU, symbolic.ADV, *xs.values()]
    conds = [symbolic.lambdify_numpy(args, c) for c, _ in leaves]
    values = [symbolic.lambdify_numpy(args, v) for _, v in leaves]
    return tuple(xs), conds, values


def _leaf_index(method, params, ell, ell_mu, adv, extras) -> np.ndarray:
    _, conds, _ = _region_kernel(method, tuple(sorted(params.items())))
    ex = methods.get(method).argument_values(extras or {})
    leaf = np.full(np.shape(ell), -1)
    with np.errstate(all="ignore"):
        for i, f in enumerate(conds):
            hit = np.broadcast_to(np.asarray(f(ell, ell_mu, adv, *ex), dtype=bool), np.shape(ell))
            leaf = np.where((leaf < 0) & hit, i, leaf)
    return leaf


def leaf_values(method: str, params: Mapping[str, float], ell, ell_mu, adv, extras, *, at,
                conv: Conventions = Conventions()) -> np.ndarray:
    """[1, n]: ∂J/∂ℓ of the Piecewise branch that is active at the point ``at = (ℓ', extras')``,
    evaluated at ``ℓ`` itself ("decide by region membership": the implementation may have put the
    token on the other side of a kink in its own precision; its value there is that branch's
    formula at the token's actual inputs, not at the shifted point). NaN beyond a log-ratio clamp."""
    m = methods.get(method)
    p = m.resolve_params(params)
    _, _, values = _region_kernel(m.name, tuple(sorted(p.items())))
    leaf = _leaf_index(m.name, p, at[0], ell_mu, adv, at[1])
    ex = m.argument_values(extras)
    out = np.full(np.shape(ell), np.nan)
    with np.errstate(all="ignore"):
        for i, f in enumerate(values):
            sel = leaf == i
            if sel.any():
                v = np.broadcast_to(np.asarray(f(ell, ell_mu, adv, *ex), dtype=np.float64), np.shape(ell))
                out[sel] = v[sel]
        if conv.is_truncation is not None:
            out = out * np.minimum(1.0, conv.is_truncation * np.exp(-(ell - ell_mu)))
        if conv.log_ratio_clamp is not None:
            lo, hi = conv.log_ratio_clamp
            out[~((ell - ell_mu > lo + 1) & (ell - ell_mu < hi - 1))] = np.nan
    return out[None]


def regions(method: str, params: Mapping[str, float] | None, ell, ell_mu, adv, extras=None) -> np.ndarray:
    """A region label per token [n]: ``sign(Â) × Piecewise leaf of ∂J/∂ℓ × sign(w)`` as strings
    such as ``"A+|leaf1|w-"`` (w− = the update is corrective, e.g. DRPO beyond its boundary)."""
    m = methods.get(method)
    p = m.resolve_params(params)
    ell, ell_mu, adv = (np.asarray(a, dtype=np.float64) for a in (ell, ell_mu, adv))
    leaf = _leaf_index(m.name, p, ell, ell_mu, adv, extras)
    with np.errstate(all="ignore"):
        g = losses_np.gradient(m.name, ell, ell_mu, adv, params=p, extras=extras)
        w_sign = np.sign(g * adv)
    s = np.sign(adv)
    sa = np.array(["A-", "A0", "A+"])[(s + 1).astype(int)]
    sw = np.array(["w-", "w0", "w+"])[(np.nan_to_num(w_sign) + 1).astype(int)]
    return np.char.add(np.char.add(np.char.add(sa, "|leaf"), leaf.astype(str)), np.char.add("|", sw))
