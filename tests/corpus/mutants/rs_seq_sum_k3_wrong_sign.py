"""MUTANT of correct/rs_seq_sum_k3.py — k3 written r − 1 + log r.

verl rollout_rs="seq_sum_k3": keep iff Σ_t (r_t − 1 − log r_t) ≤ δ."""
import torch

from _seq_rejection import reduce

FUZZ = {"fn": "loss", "method": "rs_seq_sum_k3", "args": [], "bug": 'k3 written r − 1 + log r'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    lr = log_ratio.detach()
    stat = reduce(torch.expm1(lr) + lr, mask, "sum")
    keep = stat <= delta
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
