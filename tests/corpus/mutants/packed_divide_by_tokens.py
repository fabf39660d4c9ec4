"""MUTANT of correct/packed_1d_grpo.py — sequence sums divided by the total token count.

GRPO on packed sequences: valid tokens are gathered into one 1-D stream with sequence ids
(as varlen / remove-padding kernels do), per-sequence means by index_add_, mean over sequences."""
import torch

FUZZ = {"fn": "packed_loss", "method": "ppo_clip", "args": ["--agg", "seq-mean-token-mean"], "bug": 'sequence sums divided by the total token count'}


def packed_loss(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28):
    B = mask.shape[0]
    seq_id = torch.arange(B).unsqueeze(-1).expand_as(mask)[mask]   # [N]
    lp, lm, a = logp[mask], logp_mu[mask], adv[mask]                # [N] packed
    r = torch.exp(lp - lm)
    per_tok = -torch.min(r * a, r.clamp(1 - eps_low, 1 + eps_high) * a)
    seq_sum = torch.zeros(B, dtype=per_tok.dtype).index_add(0, seq_id, per_tok)
    seq_len = torch.zeros(B, dtype=per_tok.dtype).index_add(0, seq_id, torch.ones_like(per_tok))
    return seq_sum.sum() / seq_len.sum().clamp(min=1)
