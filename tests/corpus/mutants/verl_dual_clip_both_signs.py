"""MUTANT of correct/verl_max_dual_clip.py — dual clip applied to positive advantages too.

PPO with dual clip written like verl's vanilla loss: torch.maximum / torch.min, ε_l = 0.2,
ε_h = 0.28, c = 3. Documented design choice: ℓ − ℓ_old is clamped to ±20 before exp."""
import torch

from _masking import masked_mean

FUZZ = {"fn": "ppo_loss", "method": "dual_clip", "args": ["--option", "log_ratio_clamp=20"], "bug": 'dual clip applied to positive advantages too'}


def ppo_loss(logp, logp_mu, adv, mask, *, eps_low, eps_high, dual_clip_c, num_tokens=None, num_seqs=None):
    negative_approx_kl = torch.clamp(logp - logp_mu, min=-20.0, max=20.0)
    ratio = torch.exp(negative_approx_kl)
    pg_losses1 = -adv * ratio
    pg_losses2 = -adv * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
    pg_losses3 = -adv * dual_clip_c
    clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
    pg_losses = clip_pg_losses2
    return masked_mean(pg_losses, mask, num_tokens)
