"""MUTANT of correct/rs_seq_sum_k1.py — k1 sum bounded from above only (the lower threshold is parsed but never applied).

verl rollout_rs="seq_sum_k1": reject the whole sequence unless log l ≤ Σ_t −log r_t ≤ log u."""
import math

import torch

from _seq_rejection import K, reduce

FUZZ = {"fn": "loss", "method": "rs_seq_sum_k1", "args": [], "bug": 'k1 sum bounded from above only (the lower threshold is parsed but never applied)'}


def loss(logp, logp_mu, adv, mask, lower=0.5, upper=2.0):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(K["k1"](log_ratio.detach()), mask, "sum")
    keep = stat <= math.log(upper)
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
