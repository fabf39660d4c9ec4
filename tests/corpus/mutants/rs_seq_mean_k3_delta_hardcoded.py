"""MUTANT of correct/rs_seq_mean_k3.py — threshold hard-coded at 0.1 (the configured delta is ignored).

verl rollout_rs="seq_mean_k3": keep iff mean_t (r_t − 1 − log r_t) ≤ δ."""
import torch

from _seq_rejection import K, reduce

FUZZ = {"fn": "loss", "method": "rs_seq_mean_k3", "args": [], "bug": 'threshold hard-coded at 0.1 (the configured delta is ignored)'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(K["k3"](log_ratio.detach()), mask, "mean")
    keep = stat <= 0.1
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
