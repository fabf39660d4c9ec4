"""Dual-clip PPO with Dr. GRPO's aggregation: per-sequence token sums divided by a constant
horizon L = 4096, mean over sequences (seq-mean-token-sum-norm)."""
import torch

FUZZ = {"fn": "loss", "method": "dual_clip", "args": ["--agg", "seq-mean-token-sum-norm", "--option", "horizon=4096"]}

MAX_LEN = 4096


def loss(logp, logp_mu, adv, mask, eps_low, eps_high, dual_clip_c, num_seqs=None, num_tokens=None):
    lr = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    r = lr.exp()
    a = torch.where(mask, adv, torch.zeros_like(adv))
    l_clip = torch.max(-r * a, -r.clamp(1 - eps_low, 1 + eps_high) * a)
    l = torch.where(a < 0, torch.min(l_clip, -dual_clip_c * a), l_clip)
    l = torch.where(mask, l, torch.zeros_like(l))
    rows = l.shape[0] if num_seqs is None else num_seqs
    return l.sum(-1).sum() / rows / MAX_LEN
