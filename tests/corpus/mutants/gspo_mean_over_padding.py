"""MUTANT of correct/gspo_sequence_ratio.py — sequence log-ratio averaged over padded positions.

GSPO-token (Qwen, arXiv 2507.18071 eq. 13): s_i = exp(mean_t(ℓ − ℓ_old)) per sequence, token
ratio s_i·π/sg(π), clipped with ε = 3e-4 / 4e-4, seq-mean-token-mean."""
import torch

FUZZ = {"fn": "gspo", "method": "gspo_token", "args": ["--agg", "seq-mean-token-mean"], "bug": 'sequence log-ratio averaged over padded positions'}


def gspo(logp, logp_mu, adv, mask, eps_low=3e-4, eps_high=4e-4):
    m = mask.to(logp.dtype)
    lr = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    lengths = m.sum(-1).clamp(min=1)
    seq_lr = (lr * m).sum(-1) / m.shape[-1]
    log_s = seq_lr.detach().unsqueeze(-1) + logp - logp.detach()
    s = torch.exp(torch.where(mask, log_s, torch.zeros_like(log_s)))
    a = torch.where(mask, adv, torch.zeros_like(adv))
    per_token = -torch.min(s * a, torch.clamp(s, 1 - eps_low, 1 + eps_high) * a)
    per_seq = (per_token * m).sum(-1) / lengths
    return per_seq.mean()
