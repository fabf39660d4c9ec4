"""MUTANT of correct/rs_seq_mean_k1.py — k1 taken as +log r (log π/μ instead of log μ/π).

verl rollout_rs="seq_mean_k1": keep iff log l ≤ mean_t −log r_t ≤ log u."""
import math

import torch

from _seq_rejection import reduce

FUZZ = {"fn": "loss", "method": "rs_seq_mean_k1", "args": [], "bug": 'k1 taken as +log r (log π/μ instead of log μ/π)'}


def loss(logp, logp_mu, adv, mask, lower=0.5, upper=2.0):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(log_ratio.detach(), mask, "mean")
    keep = (stat >= math.log(lower)) & (stat <= math.log(upper))
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
