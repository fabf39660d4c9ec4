"""MUTANT of correct/geo_seq_mask_skyrl.py — sequence mask on the product of the ratios instead of their geometric mean.

A geometric-mean sequence filter (SkyRL sequence_mask_metric="geometric", ms-swift
sequence_mask): the whole sequence leaves the loss unless C_min ≤ exp(mean_t log r_t) ≤ C_max;
kept tokens keep their own importance-sampled term r_t·Â, r_t = π/μ. Token-mean."""
import torch

FUZZ = {"fn": "loss", "method": "geo_seq_mask", "args": [], "bug": 'sequence mask on the product of the ratios instead of their geometric mean'}


def loss(logp, logp_mu, adv, mask, clip_min=0.0, clip_max=2.0):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    n = mask.sum(-1, keepdim=True).clamp(min=1)
    geo = torch.exp(log_ratio.detach().sum(-1, keepdim=True))                    # [B, 1]
    seq_keep = (geo >= clip_min) & (geo <= clip_max)
    loss_mask = mask & seq_keep
    per_token = -torch.exp(log_ratio) * adv
    return torch.where(loss_mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
