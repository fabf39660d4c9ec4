"""MUTANT of correct/grpo_min_seq_mean.py — token mean over the batch instead of the mean of sequence means.

GRPO as in the DeepSeekMath paper: -min(rÂ, clip(r)Â), mean over each sequence's tokens, then
mean over sequences (seq-mean-token-mean). Rows are counted whether or not they have tokens."""
import torch

FUZZ = {"fn": "grpo_loss", "method": "ppo_clip", "args": ["--agg", "seq-mean-token-mean"], "bug": 'token mean over the batch instead of the mean of sequence means'}


def grpo_loss(logp, logp_mu, adv, mask, eps_low, eps_high, num_seqs=None, num_tokens=None):
    m = mask.float()
    safe = lambda t: torch.where(mask, t, torch.zeros_like(t))  # noqa: E731
    coef_1 = torch.exp(safe(logp) - safe(logp_mu))
    coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
    per_token = -torch.min(coef_1 * safe(adv), coef_2 * safe(adv))
    return (per_token * m).sum() / m.sum().clamp(min=1.0)
