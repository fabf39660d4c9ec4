"""The numpy reference face (float64): per-token objective values, gradients and weights.

* values come from evaluating each method's single definition over :class:`NumpyOps`;
* gradients ``∂J/∂ℓ`` and weights ``w`` come from ``sympy.lambdify`` of the derived expressions
  (:mod:`drpo_analysis.core.symbolic`), evaluated in chunks so temporaries stay cache-sized.

All inputs share one token shape (``[B, T]``, ``[N]``, ...); extras add trailing axes (Top-K:
``[..., K]``). ``ell`` may be ``-inf`` (an impossible token under π: r = 0).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from drpo_analysis.core import validate, methods
from drpo_analysis.core.methods.base import Method, TokenView, make_namespace

CHUNK = 1 << 13  # tokens per chunk for lambdified kernels: float64 temporaries of 64 KiB stay
#                  below glibc's mmap threshold (128 KiB), so the loop reuses heap memory
# Value checks of the per-token inputs (shared by check_inputs and the chunked kernels).
_VALUE_SPECS = ({"allow_neg_inf": True, "upper": 0.0}, {"upper": 0.0}, {})


class NumpyOps:
    """The numpy backend of a :class:`TokenView` (no autograd: ``sg`` is the identity)."""

    symbolic = False
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    expm1 = staticmethod(np.expm1)
    log1p = staticmethod(np.log1p)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def sg(e):
        return e

    @staticmethod
    def clamp_log_ratio(e):
        return e

    @staticmethod
    def extra(view, quantity):
        return quantity.value(view.extras)


def check_inputs(method: Method, ell, ell_mu, adv, extras: Mapping[str, Any] | None,
                 params: Mapping[str, Any] | None, *, values: bool = True):
    """Validate and convert the per-token inputs of ``method`` (raises ValueError/TypeError).

    values=False skips the value checks of ℓ, ℓ_μ, Â (the caller runs them per chunk).
    """
    ell, ell_mu, adv = (validate.as_float_array(name, a, check_values=values, **spec)
                        for name, a, spec in zip(("ell", "ell_mu", "adv"), (ell, ell_mu, adv), _VALUE_SPECS))
    shape = validate.same_shape(ell=ell, ell_mu=ell_mu, adv=adv)
    if extras is not None and not isinstance(extras, Mapping):
        raise TypeError(f"extras must be a mapping of extra-input names to arrays, got {type(extras).__name__}")
    extras = dict(extras or {})
    wanted = {e.name: e for e in method.extras}
    unknown = sorted(set(extras) - set(wanted))
    if unknown:
        raise ValueError(f"unknown extra input(s) {unknown} for method {method.name!r}; "
                         f"accepted: {sorted(wanted) or 'none'}")
    missing = sorted(set(wanted) - set(extras))
    if missing:
        raise ValueError(f"method {method.name!r} needs extra input(s) {missing}")
    out = {}
    for name, spec in wanted.items():
        a = validate.as_float_array(name, extras[name], allow_neg_inf=spec.allow_neg_inf,
                                     upper=spec.high, lower=spec.low)
        if a.shape[:a.ndim - spec.trailing] != shape or (spec.trailing and a.ndim != len(shape) + spec.trailing):
            raise ValueError(f"{name} must have shape {list(shape)}{' + [K]' if spec.trailing else ''}, "
                             f"got {list(a.shape)}")
        out[name] = a
    method.check_statistic_shapes({k: v.shape for k, v in out.items()})
    return ell, ell_mu, adv, out, method.resolve_params(params)


def objective(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None) -> np.ndarray:
    """Per-token objective ``J`` (maximised; the loss is ``-J``), float64, shape of ``ell``."""
    m = methods.get(method)
    ell, ell_mu, adv, extras, p = check_inputs(m, ell, ell_mu, adv, extras, params)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        view = TokenView(NumpyOps, ell.astype(np.float64), ell_mu.astype(np.float64),
                         adv.astype(np.float64), extras)
        return np.asarray(m.objective(view, make_namespace(p)), dtype=np.float64)


def _kernel(kind: str, m: Method, p: Mapping[str, float]):
    from drpo_analysis.core import symbolic  # sympy loads only when a gradient is asked for

    key = tuple(sorted(p.items()))
    return symbolic.compiled(m.name, key).grad if kind == "grad" else symbolic.weight_kernel(m.name, key)


def _out_array(out, shape) -> np.ndarray:
    """The caller's output buffer: float64, C-contiguous, of the token shape (no allocation)."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise TypeError("out must be a writeable C-contiguous float64 numpy array")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have shape {list(shape)}, got {list(out.shape)}")
    return out.reshape(-1)


def _lambdified(kind: str, method: str | Method, ell, ell_mu, adv, params, extras, out=None) -> np.ndarray:
    """Evaluate a lambdified kernel chunk by chunk (cache-sized temporaries; each output element
    depends on its own inputs only, so the result is bitwise independent of the chunk size). The
    value checks of ℓ, ℓ_μ, Â run per chunk, on data already in cache."""
    m = methods.get(method)
    ell, ell_mu, adv, extras, p = check_inputs(m, ell, ell_mu, adv, extras, params, values=False)
    fn = _kernel(kind, m, p)
    n = int(np.prod(ell.shape))
    arrays = [np.ascontiguousarray(a, dtype=np.float64).reshape(n, *a.shape[ell.ndim:])
              for a in (ell, ell_mu, adv, *(extras[e.name] for e in m.extras))]   # [N] / [N, K]
    names = [e.name for e in m.extras]
    out = np.empty(n, dtype=np.float64) if out is None else _out_array(out, ell.shape)   # [N]

    def run(i):
        sl = slice(i, i + CHUNK)
        a_ell, a_mu, a_adv, *a_x = (a[sl] for a in arrays)
        # fast path, three reductions: max ℓ ≤ 0 and max ℓ_μ ≤ 0 (False for NaN), and ℓ_μ·Â
        # finite (non-finite whenever either holds ±inf or NaN; overflow only raises a false
        # alarm, settled by the exact checks)
        with np.errstate(over="ignore", invalid="ignore"):
            fine = a_ell.max() <= 0 and a_mu.max() <= 0 and np.isfinite(np.dot(a_mu, a_adv))
        if not fine:
            for name, a, spec in zip(("ell", "ell_mu", "adv"), (a_ell, a_mu, a_adv), _VALUE_SPECS):
                validate.values_in_range(name, a, **spec)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            a_x = m.argument_values(dict(zip(names, a_x)))   # e.g. a Top-K divergence, per chunk
            if kind == "weight":
                fn(a_ell, a_mu, a_adv, *a_x, out=out[sl])
            else:
                out[sl] = fn(a_ell, a_mu, a_adv, *a_x)
            if kind == "weight" and not a_adv.all():  # w = (∂J/∂ℓ)/(Â r) is undefined at Â = 0
                out[sl][a_adv == 0] = np.nan

    for i in range(0, out.size, CHUNK):
        run(i)
    return out.reshape(ell.shape)


def gradient(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None, out=None) -> np.ndarray:
    """Per-token ``∂J/∂ℓ`` derived symbolically (the oracle's reference), float64.

    out: optional float64 C-contiguous array of the token shape to write into (no allocation).
    """
    return _lambdified("grad", method, ell, ell_mu, adv, params, extras, out)


def gradient_weight(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None,
                    out=None) -> np.ndarray:
    """Per-token weight ``w`` with ``∂J/∂ℓ = Â r w`` (DRPO Table 1); NaN where ``Â = 0``.

    out: optional float64 C-contiguous array of the token shape to write into (no allocation).
    """
    return _lambdified("weight", method, ell, ell_mu, adv, params, extras, out)
