"""Red-team regression case (mutant): BUG: threshold applied to r - 1 instead of pi - mu (ratio-space mask = PPO clip in disguise)."""
import torch
from _helpers import masked_mean

FUZZ = {'fn': 'dppo_tv', 'method': 'dppo_binary_tv', 'args': ['--param', 'delta_low=0.15', '--param', 'delta_high=0.15', '--option', 'log_ratio_clamp=20'], 'bug': 'BUG: threshold applied to r - 1 instead of pi - mu (ratio-space mask = PPO clip in disguise).'}


def dppo_tv(logp, logp_mu, adv, mask, delta_low=0.15, delta_high=0.15):
    r = torch.exp(torch.clamp(logp - logp_mu, -20, 20))
    d = (r - 1).detach()
    out = ((adv > 0) & (d > delta_high)) | ((adv < 0) & (-d > delta_low))
    return -masked_mean(torch.where(out, torch.zeros_like(r), r * adv), mask)
