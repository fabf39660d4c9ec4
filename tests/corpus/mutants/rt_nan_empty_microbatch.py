"""Red-team regression case (mutant): BUG: token-mean divides by mask.sum() without a guard -> NaN on an all-masked micro-batch."""
import torch

FUZZ = {'fn': 'ppo', 'method': 'ppo_clip', 'args': ['--param', 'eps_low=0.2', '--param', 'eps_high=0.28', '--option', 'log_ratio_clamp=20'], 'bug': 'BUG: token-mean divides by mask.sum() without a guard -> NaN on an all-masked micro-batch.'}


def ppo(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28):
    ratio = torch.exp(torch.clamp(logp - logp_mu, -20, 20))
    obj = torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    obj = torch.where(mask, obj, torch.zeros_like(obj))
    return -obj.sum() / mask.sum()
