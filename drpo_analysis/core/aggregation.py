"""Loss aggregation modes (docs/methods.md#aggregation-modes).

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

from drpo_analysis.core import validate
from drpo_analysis.core.validate import array_namespace as _xp

MODES = ("token-mean", "token-sum", "seq-mean-token-mean", "seq-mean-token-sum",
         "seq-mean-token-sum-norm", "prompt-mean")


def _safe_div(xp, num, den):
    """num / den with 0 where den == 0 (no NaN, also in torch's backward)."""
    ok = den > 0
    one = den * 0 + 1
    return xp.where(ok, num / xp.where(ok, den, one), num * 0)


def check_mode(mode) -> str:
    """``mode`` must be one of :data:`MODES` (TypeError / ValueError otherwise)."""
    return validate.choice("mode", mode, MODES)


def _check_mask(mask):
    """A 2-D numpy array or torch tensor, bool or numeric holding only 0 and 1."""
    if isinstance(mask, np.ndarray):
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer)
                or np.issubdtype(mask.dtype, np.floating)):
            raise TypeError(f"mask must be bool or 0/1 numbers, got dtype {mask.dtype}")
    elif type(mask).__module__.split(".")[0] == "torch" and hasattr(mask, "is_complex"):
        if mask.is_complex():
            raise TypeError(f"mask must be bool or 0/1 numbers, got dtype {mask.dtype}")
    else:
        raise TypeError(f"mask must be a numpy array or torch tensor [B, T], got {type(mask).__name__}")
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D [B, T], got shape {list(mask.shape)}")
    if mask.dtype != bool and str(mask.dtype) != "torch.bool" and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must be boolean or hold only 0 and 1")


def aggregation_weights(mask, mode: str, *, num_tokens=None, num_seqs=None, horizon=None,
                        group_ids=None, num_groups=None):
    """Weights ``a`` [B, T] of ``mode`` for a boolean/0-1 ``mask`` [B, T].

    num_tokens: global token count N for token-mean (micro-batch / data-parallel splits pass the
        count of the whole optimiser step); default: this mask's count.
    num_seqs: global sequence count B for the seq-mean modes; default: rows of this mask.
    horizon: the constant L_const of seq-mean-token-sum-norm (required there).
    group_ids: [B] integer prompt-group id of every row (required for prompt-mean).
    num_groups: global group count G for prompt-mean (micro-batches holding whole groups pass the
        count of the optimiser step); default: the distinct ids of ``group_ids``.
    """
    check_mode(mode)
    _check_mask(mask)
    xp = _xp(mask)
    m = mask.astype(np.float64) if xp is np else mask.to(dtype=_torch_float(mask))
    B = m.shape[0] if num_seqs is None else validate.real_scalar("num_seqs", num_seqs, low=0, low_open=True)
    if mode == "token-sum":
        return m
    if mode == "token-mean":
        n = m.sum() if num_tokens is None else validate.real_scalar("num_tokens", num_tokens, low=0)
        return _safe_div(xp, m, m.sum() * 0 + n)
    if mode == "seq-mean-token-mean":
        return _safe_div(xp, m, B * m.sum(-1, keepdims=True) + m * 0)
    if mode == "seq-mean-token-sum":
        return m / B
    if mode == "seq-mean-token-sum-norm":
        if horizon is None:
            raise ValueError("horizon (the constant L_const) is required for seq-mean-token-sum-norm")
        return m / (B * validate.real_scalar("horizon", horizon, low=0, low_open=True))
    # prompt-mean
    if group_ids is None:
        raise ValueError("group_ids [B] is required for prompt-mean")
    gid = group_ids.cpu().numpy() if hasattr(group_ids, "cpu") else np.asarray(group_ids)
    if gid.dtype == object or not (np.issubdtype(gid.dtype, np.integer) or gid.dtype == bool):
        raise TypeError(f"group_ids must be integer prompt-group ids [B], got dtype {gid.dtype}")
    if gid.shape != (m.shape[0],):
        raise ValueError(f"group_ids must have shape [{m.shape[0]}], got {list(gid.shape)}")
    uniq, inv = np.unique(gid, return_inverse=True)
    G = len(uniq) if num_groups is None else validate.real_scalar("num_groups", num_groups, low=0, low_open=True)
    counts = np.zeros(len(uniq))
    row_tokens = m.sum(-1) if xp is np else m.sum(-1).detach().cpu().numpy()
    np.add.at(counts, inv, row_tokens)
    per_row = np.where(counts[inv] > 0, 1.0 / (G * np.where(counts[inv] > 0, counts[inv], 1)), 0.0)
    per_row = per_row if xp is np else xp.as_tensor(per_row, dtype=m.dtype, device=m.device)
    return m * per_row[:, None]


def _torch_float(t):
    import torch
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def aggregate(values, mask, mode: str, **kwargs):
    """``Σ a · L`` with masked positions replaced by 0 *before* the product (NaN-safe)."""
    check_mode(mode)
    _check_mask(mask)
    xp = _xp(values)
    if xp is not _xp(mask) or not hasattr(values, "shape"):
        raise TypeError(f"values and mask must both be numpy arrays or both torch tensors, got "
                        f"{type(values).__name__} and {type(mask).__name__}")
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(f"values {list(values.shape)} and mask {list(mask.shape)} must have the same shape")
    if xp is not np and values.is_floating_point():
        mask = mask.to(values.dtype)  # weights in the values' precision (1/3 is not float32's 1/3)
    a = aggregation_weights(mask, mode, **kwargs)
    valid = mask.astype(bool) if xp is np else mask.bool()
    # masked cells become exact zeros *before* the product: NaN·0 and inf·0 would be NaN
    safe = xp.where(valid, values, 0.0) if xp is np else xp.where(valid, values, xp.zeros_like(values))
    if xp is not np:
        a = a.to(values.dtype)
    return (safe * a).sum()
