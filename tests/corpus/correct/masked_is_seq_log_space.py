"""Sequence-level masked IS (TRL's default vllm_importance_sampling_mode="sequence_mask"), decided
in log space: a sequence is kept iff log C_min ≤ Σ_t log r_t ≤ log C_max, and a kept sequence is
weighted by its detached ratio Π_t r_t (the masked ratio multiplies the loss, as in TRL).
Surrogate −w·Â·logp per token; sequence-mean of token-means."""
import math

import torch

FUZZ = {"fn": "masked_seq_is", "method": "masked_is_seq", "args": ["--agg", "seq-mean-token-mean"]}


def masked_seq_is(logp, logp_mu, adv, mask, clip_min=0.0, clip_max=3.0):
    m = mask.to(logp.dtype)
    log_r = torch.where(mask, logp - logp_mu, torch.zeros_like(logp)).detach()
    seq_log_r = log_r.sum(-1)                                                        # [B]
    lo = math.log(clip_min) if clip_min > 0 else -math.inf
    keep = (seq_log_r >= lo) & (seq_log_r <= math.log(clip_max))
    w = torch.where(keep, torch.exp(seq_log_r), torch.zeros_like(seq_log_r))          # [B]
    safe_logp = torch.where(mask, logp, torch.zeros_like(logp))
    per_token = -w[:, None] * torch.where(mask, adv, torch.zeros_like(adv)) * safe_logp
    per_seq = (per_token * m).sum(-1) / m.sum(-1).clamp(min=1)
    return per_seq.mean()
