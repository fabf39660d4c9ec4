"""MUTANT of correct/rs_seq_sum_k2.py — token-level k2 mask used where the sequence sum was meant.

verl rollout_rs="seq_sum_k2": keep the sequence iff Σ_t ½ (log r_t)² ≤ δ."""
import torch

from _seq_rejection import K

FUZZ = {"fn": "loss", "method": "rs_seq_sum_k2", "args": [], "bug": 'token-level k2 mask used where the sequence sum was meant'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    keep = K["k2"](log_ratio.detach()) <= delta                                     # [B, T]
    per_token = -torch.exp(log_ratio) * adv * keep
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
