"""DPPO Binary-KL (eq. 12): drop the token when the binary KL(μ‖π) over {sampled, rest} exceeds
δ and the update moves further in the advantage's direction; mask without gradient."""
import torch

FUZZ = {"fn": "dppo_kl", "method": "dppo_binary_kl", "args": ["--param", "delta_low=0.05", "--param", "delta_high=0.05"]}


def dppo_kl(logp, logp_mu, adv, mask, *, delta_low, delta_high, num_tokens=None, num_seqs=None):
    lp = torch.where(mask, logp, torch.full_like(logp, -1.0))
    lm = torch.where(mask, logp_mu, torch.full_like(logp_mu, -1.0))
    with torch.no_grad():
        mu, pi = lm.exp(), lp.exp()
        kl = mu * (lm - lp) + (1 - mu) * (torch.log1p(-mu) - torch.log1p(-pi))
        shift = pi - mu
        drop = ((adv > 0) & (shift > 0) & (kl > delta_high)) | ((adv < 0) & (shift < 0) & (kl > delta_low))
    obj = torch.where(drop | ~mask, torch.zeros_like(lp), torch.exp(lp - lm) * adv)
    return -obj.sum() / (mask.sum().clamp(min=1) if num_tokens is None else num_tokens)
