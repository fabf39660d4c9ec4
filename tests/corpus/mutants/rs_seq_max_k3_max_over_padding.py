"""MUTANT of correct/rs_seq_max_k3.py — max taken over padded positions too.

verl rollout_rs="seq_max_k3": keep iff max_t (r_t − 1 − log r_t) ≤ δ over the valid tokens."""
import torch

from _seq_rejection import K

FUZZ = {"fn": "loss", "method": "rs_seq_max_k3", "args": [], "bug": 'max taken over padded positions too'}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = K["k3"]((logp - logp_mu).detach()).amax(-1)
    keep = stat <= delta
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
