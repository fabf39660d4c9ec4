"""MUTANT of correct/tis_seq_geo_swift.py — geometric mean divides by the padded width.

ms-swift-style sequence_truncate: the sequence ratio is the geometric mean of the token ratios,
exp(Σ_t m·log r_t / Σ_t m), clamped to [C_min, C_max] (ms-swift: from above only), detached, and broadcast to the
sequence's tokens; the importance-sampled term is ratio·Â with ratio = exp(logp − sg(logp)).
Sequence-mean of token-means (GRPO)."""
import torch

FUZZ = {"fn": "loss", "method": "tis_seq_geo", "args": ["--agg", "seq-mean-token-mean"], "bug": 'geometric mean divides by the padded width'}


def loss(logp, logp_mu, adv, mask, clip_min=0.0, clip_max=2.0):
    m = mask.to(logp.dtype)
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp)).detach()
    seq_log_ratio = (log_ratio * m).sum(-1) / m.shape[-1]               # [B]
    is_weights = torch.exp(seq_log_ratio).clamp(min=clip_min, max=clip_max).unsqueeze(-1)          # [B, 1]
    safe = torch.where(mask, logp, torch.zeros_like(logp))
    per_token = -torch.exp(safe - safe.detach()) * torch.where(mask, adv, torch.zeros_like(adv)) * is_weights
    return ((per_token * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
