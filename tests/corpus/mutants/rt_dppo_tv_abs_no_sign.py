"""Red-team regression case (mutant): BUG: masks on |pi - mu| > delta regardless of the direction of the shift vs the advantage sign."""
import torch
from _helpers import masked_mean

FUZZ = {'fn': 'dppo_tv', 'method': 'dppo_binary_tv', 'args': ['--param', 'delta_low=0.15', '--param', 'delta_high=0.15', '--option', 'log_ratio_clamp=20'], 'bug': 'BUG: masks on |pi - mu| > delta regardless of the direction of the shift vs the advantage sign.'}


def dppo_tv(logp, logp_mu, adv, mask, delta_low=0.15, delta_high=0.15):
    shift = (logp.exp() - logp_mu.exp()).detach()
    thr = torch.where(adv > 0, torch.full_like(shift, delta_high), torch.full_like(shift, delta_low))
    keep = (shift.abs() <= thr).to(logp.dtype)
    r = torch.exp(torch.clamp(logp - logp_mu, -20, 20))
    return -masked_mean(keep * r * adv, mask)
