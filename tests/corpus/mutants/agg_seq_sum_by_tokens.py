"""MUTANT of correct/ppo_all_agg_modes.py — seq-mean-token-sum divides by the token count instead of the sequence count.

PPO-clip that takes verl's loss_agg_mode strings as an argument (token-mean, token-sum,
seq-mean-token-sum, seq-mean-token-mean, seq-mean-token-sum-norm with a constant horizon);
sequence means count only rows that have tokens, as verl does."""
import torch

FUZZ = {"fn": "policy_loss", "method": "ppo_clip", "args": [], "bug": 'seq-mean-token-sum divides by the token count instead of the sequence count'}


def policy_loss(logp, logp_mu, adv, mask, *, eps_low, eps_high, loss_agg_mode="token-mean", horizon=None,
                num_tokens=None, num_seqs=None):
    m = mask.to(logp.dtype)
    lr = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    ratio = lr.exp()
    a = torch.where(mask, adv, torch.zeros_like(adv))
    loss = torch.maximum(-a * ratio, -a * ratio.clamp(1 - eps_low, 1 + eps_high)) * m
    rows = (m.sum(-1) > 0).to(m.dtype)
    n_seq = rows.sum().clamp(min=1) if num_seqs is None else num_seqs
    if loss_agg_mode == "token-mean":
        return loss.sum() / (m.sum().clamp(min=1) if num_tokens is None else num_tokens)
    if loss_agg_mode == "token-sum":
        return loss.sum()
    if loss_agg_mode == "seq-mean-token-sum":
        return loss.sum(-1).sum() / m.sum().clamp(min=1)
    if loss_agg_mode == "seq-mean-token-mean":
        return (loss.sum(-1) / m.sum(-1).clamp(min=1)).sum() / n_seq
    if loss_agg_mode == "seq-mean-token-sum-norm":
        return loss.sum(-1).sum() / n_seq / horizon
    raise ValueError(f"unknown loss_agg_mode {loss_agg_mode}")
