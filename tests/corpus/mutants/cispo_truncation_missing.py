"""MUTANT of correct/cispo_tis.py — truncation constant never applied.

CISPO (MiniMax-M1 eq. 4): -sg(min(r, C)) Â log π, C = 2 (truncated importance sampling)."""
import torch

FUZZ = {"fn": "cispo_loss", "method": "cispo", "args": ["--param", "clip_max=2.0"], "bug": 'truncation constant never applied'}


def cispo_loss(logp, logp_mu, adv, mask, clip_max=2.0, clip_min=0.0, num_tokens=None, num_seqs=None):
    logp_safe = torch.where(mask, logp, torch.zeros_like(logp))
    ratio = torch.exp(logp_safe - torch.where(mask, logp_mu, torch.zeros_like(logp_mu)))
    weight = ratio.detach()
    per_token = -weight * torch.where(mask, adv, torch.zeros_like(adv)) * logp_safe
    n = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    return per_token.sum() / n
