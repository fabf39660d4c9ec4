"""The torch face (training): per-token losses ``−J`` with autograd, from the same definitions.

Each method's objective is evaluated over :class:`TorchOps`, where ``sg`` is ``detach``. The
gradient w.r.t. ``logp`` therefore equals the symbolically derived ``∂J/∂ℓ`` (checked in
``proofs/autograd_matches_derived.py``).

Numerics (documented behaviour, relied on by the fuzzer):

* bf16 / fp16 inputs are computed in float32 (the returned loss is float32);
* the log-ratio ``ℓ − ℓ_μ`` is clamped to ``±(log(finfo.max) − 8)`` (±80.7 in float32, ±701.8 in
  float64) so ``r`` and ``r·Â`` stay finite; beyond the clamp the token's gradient is 0;
* positions where ``mask`` is False get safe stand-in inputs before anything is computed, so
  ``−inf``/NaN/huge values there change neither the loss nor any gradient, and their own gradient
  is exactly 0.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from drpo_analysis.core import aggregation, methods
from drpo_analysis.core.methods.base import BatchInputs, Method, TokenView, make_namespace
from drpo_analysis.core.methods.sequence_ratio import SEQ_LOG_RATIO


def _as_tensor_like(v, ref):
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=ref.dtype, device=ref.device)


class TorchOps:
    """The torch backend of a :class:`TokenView`."""

    symbolic = False
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    expm1 = staticmethod(torch.expm1)
    log1p = staticmethod(torch.log1p)
    abs = staticmethod(torch.abs)
    sign = staticmethod(torch.sign)

    @staticmethod
    def where(cond, a, b):
        ref = a if isinstance(a, torch.Tensor) else b
        return torch.where(cond, _as_tensor_like(a, ref), _as_tensor_like(b, ref))

    @staticmethod
    def minimum(a, b):
        return torch.minimum(a, _as_tensor_like(b, a))

    @staticmethod
    def maximum(a, b):
        return torch.maximum(a, _as_tensor_like(b, a))

    @staticmethod
    def sg(e):
        return e.detach() if isinstance(e, torch.Tensor) else e

    @staticmethod
    def clamp_log_ratio(e):
        bound = math.log(torch.finfo(e.dtype).max) - 8.0
        return e.clamp(-bound, bound)

    @staticmethod
    def extra(view, quantity):
        return quantity.value({k: v.detach() for k, v in view.extras.items()})


_SAFE_LOGP = math.log(0.5)  # stand-in for masked positions: π = μ = 1/2, Â = 0


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


def _float_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t


def check_mask(mask, shape) -> torch.Tensor:
    """``mask`` as a bool tensor of ``shape``: bool, or numeric holding only 0 and 1."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor (bool, or 0/1), got {type(mask).__name__}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"shape mismatch: mask{list(mask.shape)} must equal {list(shape)}")
    if mask.dtype != torch.bool:
        if mask.is_complex() or not ((mask == 0) | (mask == 1)).all():
            raise ValueError("mask must be boolean or hold only 0 and 1")
        mask = mask != 0
    return mask


def _check_values(logp, logp_mu, adv, valid):
    """Unmasked positions: ℓ ∈ [−inf, finite] (π = 0 allowed), ℓ_μ and Â finite (one fused pass;
    ℓ ≤ 0 is not enforced here: half-precision log-softmax can round a hair above 0)."""
    bad_logp = torch.isnan(logp) | (logp == math.inf)
    for name, bad in (("logp", bad_logp), ("logp_mu", ~torch.isfinite(logp_mu)), ("adv", ~torch.isfinite(adv))):
        if valid is not None:
            bad = bad & valid
        if bool(bad.any()):
            allowed = "finite or -inf" if name == "logp" else "finite"
            raise ValueError(f"{name} must be {allowed} at unmasked positions; mask such positions out")


def _check(method: Method, logp, logp_mu, adv, mask, extras):
    for name, t in (("logp", logp), ("logp_mu", logp_mu), ("adv", adv)):
        _float_tensor(name, t)
    shapes = {"logp": logp.shape, "logp_mu": logp_mu.shape, "adv": adv.shape}
    if len(set(map(tuple, shapes.values()))) > 1:
        raise ValueError("shape mismatch: " + ", ".join(f"{k}{list(v)}" for k, v in shapes.items()))
    valid = None if mask is None else check_mask(mask, logp.shape)
    _check_values(logp.detach(), logp_mu.detach(), adv.detach(), valid)
    wanted = {e.name: e for e in method.extras}
    if extras is not None and not isinstance(extras, Mapping):
        raise TypeError(f"extras must be a mapping of extra-input names to tensors, got {type(extras).__name__}")
    extras = dict(extras or {})
    if set(extras) != set(wanted):
        raise ValueError(f"method {method.name!r} takes extras {sorted(wanted) or 'none'}, got {sorted(extras)}")
    for name, spec in wanted.items():
        t = extras[name]
        if not isinstance(t, torch.Tensor):
            try:
                extras[name] = t = torch.as_tensor(t, dtype=_compute_dtype(logp), device=logp.device)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"{name} must be a tensor of real numbers ({exc})") from None
        elif not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
        if t.dim() != logp.dim() + spec.trailing or tuple(t.shape[:logp.dim()]) != tuple(logp.shape):
            raise ValueError(f"{name} must have shape {list(logp.shape)}{' + [K]' if spec.trailing else ''}, "
                             f"got {list(t.shape)}")
    method.check_statistic_shapes({k: v.shape for k, v in extras.items()})
    return extras


def per_token_loss(method: str | Method, logp: torch.Tensor, logp_mu: torch.Tensor, adv: torch.Tensor,
                   *, mask: torch.Tensor | None = None, params: Mapping[str, Any] | None = None,
                   extras: Mapping[str, Any] | None = None) -> torch.Tensor:
    """Per-token loss ``−J`` (same shape as ``logp``), differentiable w.r.t. ``logp``.

    logp: [...] log π of the sampled tokens (requires grad); logp_mu: [...] log μ (rollout);
    adv: [...] Â broadcast per token; mask: [...] bool, False = padding (loss exactly 0 there).
    """
    m = methods.get(method)
    p = m.resolve_params(params)
    extras = _check(m, logp, logp_mu, adv, mask, extras)
    mask = None if mask is None else check_mask(mask, logp.shape)
    dt = _compute_dtype(logp)
    ell, ell_mu, a = logp.to(dt), logp_mu.to(dt).detach(), adv.to(dt).detach()
    extras = {k: v.to(dt) for k, v in extras.items()}
    if mask is not None:
        valid = mask.bool()
        safe = torch.full_like(ell, _SAFE_LOGP)
        ell = torch.where(valid, ell, safe)
        ell_mu = torch.where(valid, ell_mu, safe.detach())
        a = torch.where(valid, a, torch.zeros_like(a))
        extras = {e.name: _mask_extra(e, extras[e.name], valid) for e in m.extras}
    view = TokenView(TorchOps, ell, ell_mu, a, extras)
    loss = -m.objective(view, make_namespace(p))
    if mask is not None:
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    return loss


def _mask_extra(extra, v, valid):
    if v.dim() > valid.dim():  # Top-K [..., K]: a uniform stand-in
        return torch.where(valid[..., None], v, torch.full_like(v, math.log(0.5 / v.shape[-1])))
    return torch.where(valid, v, torch.full_like(v, extra.fill))


def policy_loss(method: str | Method, logp, logp_mu, adv, mask, *, agg: str = "token-mean",
                params=None, extras=None, **agg_kwargs) -> torch.Tensor:
    """Scalar policy loss: :func:`per_token_loss` aggregated by ``agg`` (see ``aggregation``).

    mask: [B, T] bool (or 0/1); None means every token is valid.
    """
    aggregation.check_mode(agg)
    if mask is None and isinstance(logp, torch.Tensor):
        mask = torch.ones(logp.shape, dtype=torch.bool, device=logp.device)
    loss = per_token_loss(method, logp, logp_mu, adv, mask=mask, params=params, extras=extras)
    return aggregation.aggregate(loss, mask, agg, **agg_kwargs)


def sequence_log_ratio(logp, logp_mu, mask):
    """GSPO's frozen ``L = mean_t (ℓ − ℓ_μ)`` over valid tokens, broadcast per token [B, T]."""
    _float_tensor("logp", logp)
    _float_tensor("logp_mu", logp_mu)
    if logp.dim() != 2 or logp_mu.shape != logp.shape:
        raise ValueError(f"logp and logp_mu must both be [B, T], got {list(logp.shape)} and "
                         f"{list(logp_mu.shape)}")
    valid = check_mask(mask, logp.shape)
    _check_values(logp.detach(), logp_mu.detach(), torch.zeros(()), valid)
    return SEQ_LOG_RATIO.build(torch, BatchInputs(logp.detach(), logp_mu, valid))
