"""SPO (arXiv 2401.16025 eq. 11): J = rÂ − |Â|(r − 1)²/(2ε), ε = 12.5, token-mean."""
import torch

FUZZ = {"fn": "spo_loss", "method": "spo", "args": ["--param", "eps=12.5"]}


def spo_loss(logp, logp_mu, adv, mask, eps, num_tokens=None, num_seqs=None):
    r = torch.exp(torch.where(mask, logp - logp_mu, torch.zeros_like(logp)))
    a = torch.where(mask, adv, torch.zeros_like(adv))
    j = r * a - a.abs() * (r - 1) * (r - 1) / (2 * eps)
    return -(j * mask).sum() / (mask.sum().clamp(min=1) if num_tokens is None else num_tokens)
