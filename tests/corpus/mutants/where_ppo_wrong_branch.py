"""MUTANT of correct/where_ppo_token_mean.py — lower clip applied to positive advantages (clip direction).

PPO-clip as explicit branches with torch.where (no min/max), token-mean over a global count."""
import torch

FUZZ = {"fn": "loss_fn", "method": "ppo_clip", "args": ["--param", "eps_low=0.2", "--param", "eps_high=0.2"], "bug": 'lower clip applied to positive advantages (clip direction)'}


def loss_fn(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.2, num_tokens=None, num_seqs=None):
    logp = torch.where(mask, logp, torch.zeros_like(logp))
    logp_mu = torch.where(mask, logp_mu, torch.zeros_like(logp_mu))
    adv = torch.where(mask, adv, torch.zeros_like(adv))
    ratio = torch.exp(logp - logp_mu)
    clipped_hi = (adv > 0) & (ratio > 1 + eps_high)
    clipped_lo = (adv > 0) & (ratio < 1 - eps_low)
    obj = torch.where(clipped_hi, (1 + eps_high) * adv, torch.where(clipped_lo, (1 - eps_low) * adv, ratio * adv))
    n = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    return -(obj * mask).sum() / n
