"""MUTANT of correct/rs_seq_mean_k2.py — sequence mean of k2 divides by the padded width.

verl rollout_rs="seq_mean_k2": keep iff mean_t ½ (log r_t)² ≤ δ over the valid tokens."""
import torch

from _seq_rejection import K, reduce

FUZZ = {"fn": "loss", "method": "rs_seq_mean_k2", "args": [], "bug": 'sequence mean of k2 divides by the padded width'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(K["k2"](log_ratio.detach()), mask, "sum") / mask.shape[-1]
    keep = stat <= delta
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
