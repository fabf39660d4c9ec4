"""Red-team regression case (mutant): BUG: accepts the global token count but divides by this micro-batch's count (per-shard mean)."""
import torch

FUZZ = {'fn': 'ppo', 'method': 'ppo_clip', 'args': ['--param', 'eps_low=0.2', '--param', 'eps_high=0.28', '--option', 'log_ratio_clamp=20'], 'bug': "BUG: accepts the global token count but divides by this micro-batch's count (per-shard mean)."}


def ppo(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28, num_tokens=None):
    ratio = torch.exp(torch.clamp(logp - logp_mu, -20, 20))
    obj = torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    obj = torch.where(mask, obj, torch.zeros_like(obj))
    denom = mask.sum().clamp(min=1)   # num_tokens accepted "for API compatibility"
    return -obj.sum() / denom
