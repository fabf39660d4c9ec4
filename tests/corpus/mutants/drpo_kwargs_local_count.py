"""MUTANT of correct/drpo_kwargs.py — global token count in **kwargs ignored (local mean).

DRPO taking everything through **kwargs (a config-dict style code base): delta and the
global token count are read from kwargs; r − 1 via expm1."""
import torch

FUZZ = {"fn": "drpo", "method": "drpo", "args": ["--param", "delta=0.2"], "bug": 'global token count in **kwargs ignored (local mean)'}


def drpo(logp, logp_mu, adv, mask, **kwargs):
    delta = kwargs["delta"]
    lr = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    r_minus_1 = torch.expm1(lr)
    mu = torch.exp(torch.where(mask, logp_mu, torch.zeros_like(logp_mu)))
    a = torch.where(mask, adv, torch.zeros_like(adv))
    j = (r_minus_1 + 1) * a - a.abs() * mu * r_minus_1 * r_minus_1 / (2 * delta)
    n = mask.sum().clamp(min=1)
    return -(j * mask).sum() / n
