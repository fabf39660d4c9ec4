"""The numpy reference face (float64): per-token objective values, gradients and weights.

* values come from evaluating each method's single definition over :class:`NumpyOps`;
* gradients ``∂J/∂ℓ`` and weights ``w`` come from ``sympy.lambdify`` of the derived expressions
  (:mod:`drpo_analysis.symbolic`), evaluated in chunks so temporaries stay cache-sized.

All inputs share one token shape (``[B, T]``, ``[N]``, ...); extras add trailing axes (Top-K:
``[..., K]``). ``ell`` may be ``-inf`` (an impossible token under π: r = 0).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from drpo_analysis import _validate, methods
from drpo_analysis.divergences import topk_divergence
from drpo_analysis.methods.base import Method, TokenView, make_namespace

CHUNK = 1 << 16  # tokens per chunk for lambdified kernels (keeps temporaries ~512 KiB)


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
    def extra(view, name):
        return view.extras[name]

    @staticmethod
    def topk_divergence(view, kind):
        return topk_divergence(view.extras["topk_logp_mu"], view.extras["topk_logp"], kind)


def check_inputs(method: Method, ell, ell_mu, adv, extras: Mapping[str, Any] | None,
                 params: Mapping[str, Any] | None):
    """Validate and convert the per-token inputs of ``method`` (raises ValueError/TypeError)."""
    ell = _validate.as_float_array("ell", ell, allow_neg_inf=True, upper=0.0)
    ell_mu = _validate.as_float_array("ell_mu", ell_mu, upper=0.0)
    adv = _validate.as_float_array("adv", adv)
    shape = _validate.same_shape(ell=ell, ell_mu=ell_mu, adv=adv)
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
        a = _validate.as_float_array(name, extras[name], allow_neg_inf=name.startswith("topk"),
                                     upper=0.0 if name.startswith("topk") else None,
                                     lower=1.0 if name == "seq_len" else None)
        if a.shape[:a.ndim - spec.trailing] != shape or (spec.trailing and a.ndim != len(shape) + spec.trailing):
            raise ValueError(f"{name} must have shape {list(shape)}{' + [K]' if spec.trailing else ''}, "
                             f"got {list(a.shape)}")
        out[name] = a
    return ell, ell_mu, adv, out, method.resolve_params(params)


def objective(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None) -> np.ndarray:
    """Per-token objective ``J`` (maximised; the loss is ``-J``), float64, shape of ``ell``."""
    m = methods.get(method)
    ell, ell_mu, adv, extras, p = check_inputs(m, ell, ell_mu, adv, extras, params)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        view = TokenView(NumpyOps, ell.astype(np.float64), ell_mu.astype(np.float64),
                         adv.astype(np.float64), extras)
        return np.asarray(m.objective(view, make_namespace(p)), dtype=np.float64)


def _lambdified(kind: str, method: str | Method, ell, ell_mu, adv, params, extras) -> np.ndarray:
    from drpo_analysis import symbolic  # sympy loads only when a gradient is asked for

    m = methods.get(method)
    ell, ell_mu, adv, extras, p = check_inputs(m, ell, ell_mu, adv, extras, params)
    comp = symbolic.compiled(m.name, tuple(sorted(p.items())))
    fn = comp.grad if kind == "grad" else comp.weight
    if m.name.startswith("dppo_topk_"):
        kind_ = m.name.rsplit("_", 1)[1]
        extra_vals = [topk_divergence(extras["topk_logp_mu"], extras["topk_logp"], kind_)]
    else:
        extra_vals = [extras[k] for k in comp.args[3:]]
    arrays = [np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
              for a in (ell, ell_mu, adv, *extra_vals)]
    out = np.empty(arrays[0].shape, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(0, out.size, CHUNK):
            sl = slice(i, i + CHUNK)
            out[sl] = fn(*(a[sl] for a in arrays))
    return out.reshape(ell.shape)


def gradient(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None) -> np.ndarray:
    """Per-token ``∂J/∂ℓ`` derived symbolically (the oracle's reference), float64."""
    return _lambdified("grad", method, ell, ell_mu, adv, params, extras)


def gradient_weight(method: str | Method, ell, ell_mu, adv, *, params=None, extras=None) -> np.ndarray:
    """Per-token weight ``w`` with ``∂J/∂ℓ = Â r w`` (DRPO Table 1); NaN where ``Â = 0``."""
    return _lambdified("weight", method, ell, ell_mu, adv, params, extras)
