"""MUTANT of correct/half_precision_upcast.py — dual clip never applied.

Dual-clip PPO for bf16 / fp16 models: inputs are upcast to float32 before the ratio, the loss
is returned in float32 (the backward casts the gradient to the input dtype)."""
import torch

FUZZ = {"fn": "loss", "method": "dual_clip", "args": ["--param", "dual_clip_c=3.0"], "bug": 'dual clip never applied'}


def loss(logp, logp_mu, adv, mask, *, eps_low, eps_high, dual_clip_c, num_tokens=None, num_seqs=None):
    lp, lm, a = logp.float(), logp_mu.float(), adv.float()
    m = mask.float()
    r = torch.exp(torch.where(mask, lp - lm, torch.zeros_like(lp)))
    a = torch.where(mask, a, torch.zeros_like(a))
    surr = torch.min(r * a, torch.clamp(r, 1 - eps_low, 1 + eps_high) * a)
    n = m.sum().clamp(min=1) if num_tokens is None else num_tokens
    return -(surr * m).sum() / n
