"""MUTANT of correct/dppo_tv_mask.py — δ_low and δ_high exchanged.

DPPO Binary-TV (arXiv 2602.04879 eq. 11): the token's gradient is dropped when Â > 0 and
π − μ > δ_h, or Â < 0 and μ − π > δ_l; the mask is computed without gradient."""
import torch

FUZZ = {"fn": "dppo_tv", "method": "dppo_binary_tv", "args": ["--param", "delta_low=0.1", "--param", "delta_high=0.2"], "bug": 'δ_low and δ_high exchanged'}


def dppo_tv(logp, logp_mu, adv, mask, *, delta_low, delta_high, num_tokens=None, num_seqs=None):
    logp = logp.masked_fill(~mask, -1.0)
    logp_mu = logp_mu.masked_fill(~mask, -1.0)
    with torch.no_grad():
        shift = logp.exp() - logp_mu.exp()
        drop = ((adv > 0) & (shift > delta_low)) | ((adv < 0) & (-shift > delta_high))
    ratio = torch.exp(logp - logp_mu)
    obj = torch.where(drop, torch.zeros_like(ratio), ratio * adv)
    obj = obj.masked_fill(~mask, 0.0)
    n = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    return -obj.sum() / n
