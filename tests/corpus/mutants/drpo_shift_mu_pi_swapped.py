"""MUTANT of correct/drpo_shift_form.py — ratio inverted (μ/π).

DRPO written with the probability shift Δ = π − μ: J = rÂ − |Â| Δ² / (2δμ), computed in float64."""
import torch

FUZZ = {"fn": "loss", "method": "drpo", "args": ["--param", "delta=0.15"], "bug": 'ratio inverted (μ/π)'}


def loss(logp, logp_mu, adv, mask, delta, num_tokens=None, num_seqs=None):
    lp = torch.where(mask, logp, torch.full_like(logp, -1.0)).double()
    lm = torch.where(mask, logp_mu, torch.full_like(logp_mu, -1.0)).double()
    a = torch.where(mask, adv, torch.zeros_like(adv)).double()
    pi, mu = lp.exp(), lm.exp()
    shift = pi - mu
    j = torch.exp(lm - lp) * a - a.abs() * shift * shift / (2 * delta * mu)
    n = mask.sum() if num_tokens is None else num_tokens
    return (-(j * mask).sum() / max(float(n), 1.0)).to(logp.dtype)
