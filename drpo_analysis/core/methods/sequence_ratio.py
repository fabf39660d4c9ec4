"""GSPO: a clipped *sequence-level* ratio ``S = exp(mean_t (ℓ_t − ℓ_μ,t))`` (Qwen, arXiv 2507.18071).

Two gradient forms are seen in the wild; both are expressed per token with the frozen sequence
log-ratio ``L = sg(mean_t(ℓ − ℓ_μ))`` as an extra input:

* ``gspo_token`` (GSPO-token, eq. 13; verl ``gspo``): ``S_t = exp(L + ℓ_t − sg(ℓ_t))`` clipped like
  PPO; each token gets ``∂J/∂ℓ_t = S Â`` (then divided by |y| by seq-mean-token-mean aggregation);
* ``gspo_seq`` (sequence objective, eq. 5, differentiated through ``S`` itself): each token gets
  ``∂J/∂ℓ_t = S Â / |y|``, written here as the token objective divided by ``seq_len``.
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import BatchInputs, Extra, Method, Param
from drpo_analysis.core.methods.ratio_clip import clipped_ratio_objective


def sequence_ratio(x):
    """``S_t = exp(sg(L) + ℓ_t − sg(ℓ_t))``: value S, gradient S per token. The exponent goes
    through the backend's log-ratio clamp like ``x.log_ratio`` (torch: the dtype's exp range;
    the fuzz oracle: an implementation's documented clamp, e.g. verl's ``max=10``)."""
    return x.ops.exp(x.ops.clamp_log_ratio(x.extra(SEQ_LOG_RATIO) + x.ell - x.sg(x.ell)))


def gspo_token(x, p):
    """GSPO-token (GSPO eq. 13): ``min(S_t Â, clip(S_t, 1−ε_l, 1+ε_h) Â)``."""
    return clipped_ratio_objective(x, sequence_ratio(x), p.eps_low, p.eps_high)


def gspo_seq(x, p):
    """GSPO sequence objective (GSPO eq. 5) spread over its ``|y|`` tokens."""
    return gspo_token(x, p) / x.extra(SEQ_LEN)


PARAMS = (Param("eps_low", 3e-4, "sequence-ratio clip ε_l (GSPO: 3e-4)", low=0.0, high=1.0,
                low_open=False, high_open=True, symbol="epsilon_l",
                source="GSPO (arXiv 2507.18071) experiments: ε_left = 3e-4"),
          Param("eps_high", 4e-4, "sequence-ratio clip ε_h (GSPO: 4e-4)", low=0.0, low_open=False,
                symbol="epsilon_h", source="GSPO (arXiv 2507.18071) experiments: ε_right = 4e-4"))


def valid_count(xp, b: BatchInputs):
    """|y| per row, an integer [B, 1], at least 1 (an empty row divides by 1, not 0)."""
    return b.mask.sum(-1)[..., None].clip(min=1)


def masked_log_ratio(xp, b: BatchInputs):
    """``ℓ − ℓ_μ`` at valid tokens, 0 at padding [B, T], with ℓ frozen."""
    ell = b.logp.detach() if hasattr(b.logp, "detach") else b.logp
    return xp.where(b.mask, ell - b.logp_mu, 0.0)


def build_seq_log_ratio(xp, b: BatchInputs):
    """``L = mean_t (ℓ − ℓ_μ)`` over the row's valid tokens, broadcast per token [B, T]; frozen."""
    diff = masked_log_ratio(xp, b)
    return xp.broadcast_to(diff.sum(-1)[..., None] / valid_count(xp, b), diff.shape)


def build_seq_len(xp, b: BatchInputs):
    """``|y|``, the row's number of valid tokens, broadcast per token [B, T] (float)."""
    return xp.broadcast_to(valid_count(xp, b) * 1.0, b.mask.shape)


SEQ_LOG_RATIO = Extra("seq_log_ratio", "frozen mean over the sequence of ℓ − ℓ_μ (broadcast per token)",
                      build_seq_log_ratio, symbol="L", moves_with_ell=True, coordinate="log_ratio")
SEQ_LEN = Extra("seq_len", "number of valid tokens |y| of the sequence", build_seq_len, symbol="T",
                low=1.0, fill=1.0)

METHODS = (
    Method("gspo_token", "sequence_ratio", "GSPO-token (per-token form, verl 'gspo')",
           "GSPO (arXiv 2507.18071) eq. 13", gspo_token, params=PARAMS, extras=(SEQ_LOG_RATIO,)),
    Method("gspo_seq", "sequence_ratio", "GSPO sequence form (gradient S Â / |y| per token)",
           "GSPO (arXiv 2507.18071) eq. 5", gspo_seq, params=PARAMS,
           extras=(SEQ_LOG_RATIO, SEQ_LEN)),
)
