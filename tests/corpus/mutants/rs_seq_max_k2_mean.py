"""MUTANT of correct/rs_seq_max_k2.py — mean of the token k2 where the max was meant.

verl rollout_rs="seq_max_k2": keep iff max_t ½ (log r_t)² ≤ δ."""
import torch

from _seq_rejection import K, reduce

FUZZ = {"fn": "loss", "method": "rs_seq_max_k2", "args": [], "bug": 'mean of the token k2 where the max was meant'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(K["k2"](log_ratio.detach()), mask, "mean")
    keep = stat <= delta
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
