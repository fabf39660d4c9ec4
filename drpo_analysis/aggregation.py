"""Loss aggregation modes (REFERENCE "Loss aggregation modes used in the wild").

Every mode is *linear* in the per-token loss, so each is written once as a weight array
``a[b, t]`` with ``loss = Σ_{b,t} a[b, t] · L[b, t]``. The same weights give the fuzz oracle's
expected gradient (``∂loss/∂ℓ = −a · ∂J/∂ℓ``). Works on numpy arrays and torch tensors.

| mode | weight ``a[b, t]`` |
|---|---|
| token-mean | ``m / N``  (N tokens in the optimiser step, all ranks: pass ``num_tokens``) |
| token-sum | ``m`` |
| seq-mean-token-mean | ``m / (B · Σ_t m[b])`` |
| seq-mean-token-sum | ``m / B`` |
| seq-mean-token-sum-norm | ``m / (B · L_const)`` (Dr. GRPO; ``horizon`` = L_const, explicit) |
| prompt-mean | ``m / (G · N_g)``: token-mean inside each prompt group g, mean over the G groups |

Rows or groups without valid tokens get weight 0 (an empty batch gives loss 0, never NaN).
"""
from __future__ import annotations

import numpy as np

from drpo_analysis import _validate
from drpo_analysis.divergences import _xp

MODES = ("token-mean", "token-sum", "seq-mean-token-mean", "seq-mean-token-sum",
         "seq-mean-token-sum-norm", "prompt-mean")


def _safe_div(xp, num, den):
    """num / den with 0 where den == 0 (no NaN, also in torch's backward)."""
    ok = den > 0
    one = den * 0 + 1
    return xp.where(ok, num / xp.where(ok, den, one), num * 0)


def aggregation_weights(mask, mode: str, *, num_tokens=None, num_seqs=None, horizon=None,
                        group_ids=None):
    """Weights ``a`` [B, T] of ``mode`` for a boolean/0-1 ``mask`` [B, T].

    num_tokens: global token count N for token-mean (micro-batch / data-parallel splits pass the
        count of the whole optimiser step); default: this mask's count.
    num_seqs: global sequence count B for the seq-mean modes; default: rows of this mask.
    horizon: the constant L_const of seq-mean-token-sum-norm (required there).
    group_ids: [B] integer prompt-group id of every row (required for prompt-mean).
    """
    _validate.choice("mode", mode, MODES)
    xp = _xp(mask)
    if getattr(mask, "ndim", 0) != 2:
        raise ValueError(f"mask must be 2-D [B, T], got shape {list(getattr(mask, 'shape', ()))}")
    m = mask.astype(np.float64) if xp is np else mask.to(dtype=_torch_float(mask))
    B = m.shape[0] if num_seqs is None else _validate.real_scalar("num_seqs", num_seqs, low=0, low_open=True)
    if mode == "token-sum":
        return m
    if mode == "token-mean":
        n = m.sum() if num_tokens is None else _validate.real_scalar("num_tokens", num_tokens, low=0)
        return _safe_div(xp, m, m.sum() * 0 + n)
    if mode == "seq-mean-token-mean":
        return _safe_div(xp, m, B * m.sum(-1, keepdims=True) + m * 0)
    if mode == "seq-mean-token-sum":
        return m / B
    if mode == "seq-mean-token-sum-norm":
        if horizon is None:
            raise ValueError("horizon (the constant L_const) is required for seq-mean-token-sum-norm")
        return m / (B * _validate.real_scalar("horizon", horizon, low=0, low_open=True))
    # prompt-mean
    if group_ids is None:
        raise ValueError("group_ids [B] is required for prompt-mean")
    gid = np.asarray(group_ids if xp is np else group_ids.cpu().numpy())
    if gid.shape != (m.shape[0],):
        raise ValueError(f"group_ids must have shape [{m.shape[0]}], got {list(gid.shape)}")
    uniq, inv = np.unique(gid, return_inverse=True)
    counts = np.zeros(len(uniq))
    row_tokens = m.sum(-1) if xp is np else m.sum(-1).detach().cpu().numpy()
    np.add.at(counts, inv, row_tokens)
    per_row = np.where(counts[inv] > 0, 1.0 / (len(uniq) * np.where(counts[inv] > 0, counts[inv], 1)), 0.0)
    per_row = per_row if xp is np else xp.as_tensor(per_row, dtype=m.dtype, device=m.device)
    return m * per_row[:, None]


def _torch_float(t):
    import torch
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def aggregate(values, mask, mode: str, **kwargs):
    """``Σ a · L`` with masked positions replaced by 0 *before* the product (NaN-safe)."""
    xp = _xp(values)
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(f"values {list(values.shape)} and mask {list(mask.shape)} must have the same shape")
    a = aggregation_weights(mask, mode, **kwargs)
    valid = mask.astype(bool) if xp is np else mask.bool()
    safe = xp.where(valid, values, values * 0 if xp is np else xp.zeros_like(values))
    if xp is not np:
        a = a.to(values.dtype)
    return (safe * a).sum()
