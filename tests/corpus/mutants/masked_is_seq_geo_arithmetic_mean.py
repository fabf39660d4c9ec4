"""MUTANT of correct/masked_is_seq_geo_areal.py — band checked on the arithmetic mean of the token ratios (the 'length trap') instead of the geometric mean.

AReaL-style sequence-level masked IS (rejection_sampling level="sequence", action="mask",
metric="ratio", agg="mean"): log-ratios upcast to float32 and aggregated in log space, so the
sequence's uniform weight is the geometric mean exp(mean_t log r_t); sequences whose geometric
mean leaves [lower, upper] drop out of the loss mask (the token mean keeps the original count).
Surrogate −w·Â·logp."""
import torch

FUZZ = {"fn": "loss", "method": "masked_is_seq_geo", "args": [], "bug": "band checked on the arithmetic mean of the token ratios (the 'length trap') instead of the geometric mean"}


def loss(logp, logp_mu, adv, mask, clip_min=0.0, clip_max=2.0):
    log_ratio = (logp.detach().float() - logp_mu.float())
    log_ratio = torch.where(mask & torch.isfinite(log_ratio), log_ratio, torch.zeros_like(log_ratio))
    count = mask.sum(-1, keepdim=True).clamp(min=1)
    weight = torch.exp(log_ratio.sum(-1, keepdim=True) / count)                     # [B, 1]
    arith = torch.where(mask, torch.exp(log_ratio), torch.zeros_like(log_ratio)).sum(-1, keepdim=True) / count
    in_bounds = (arith >= clip_min) & (arith <= clip_max)
    keep = mask & in_bounds
    per_token = -weight.to(logp.dtype) * torch.where(mask, adv, torch.zeros_like(adv)) \
        * torch.where(mask, logp, torch.zeros_like(logp))
    return torch.where(keep, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
