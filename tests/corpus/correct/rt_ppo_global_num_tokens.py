"""Red-team regression case (correct): token-mean over the global batch: divides by the global token count num_tokens when given."""
import torch

FUZZ = {'fn': 'ppo_global', 'method': 'ppo_clip', 'args': ['--param', 'eps_low=0.2', '--param', 'eps_high=0.28', '--option', 'log_ratio_clamp=20']}


def ppo_global(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28, num_tokens=None):
    ratio = torch.exp(torch.clamp(logp - logp_mu, -20, 20))
    obj = torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    obj = torch.where(mask, obj, torch.zeros_like(obj))
    denom = mask.sum().clamp(min=1) if num_tokens is None else max(num_tokens, 1)
    return -obj.sum() / denom
