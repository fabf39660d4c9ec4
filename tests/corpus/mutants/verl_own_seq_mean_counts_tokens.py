"""MUTANT of correct/verl_signature_own_agg.py — seq-mean-token-mean divides by the token count.

A verl-signature PPO-clip loss (no dual clip) with its own aggregation of every verl mode,
reading the global counts from config.global_batch_info; sequence means skip empty rows."""
import torch

FUZZ = {"fn": "ppo_clip_loss", "method": "ppo_clip", "args": ["--adapter", "verl"], "bug": 'seq-mean-token-mean divides by the token count'}


def ppo_clip_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None):
    info = config.global_batch_info
    dp = info.get("dp_size", 1)
    m = response_mask
    lr = torch.where(m > 0, log_prob - old_log_prob, torch.zeros_like(log_prob))
    ratio = lr.exp()
    obj = torch.min(ratio * advantages, ratio.clamp(1 - config.clip_ratio_low, 1 + config.clip_ratio_high) * advantages)
    loss = torch.where(m > 0, -obj, torch.zeros_like(obj))
    n_seq = info.get("global_batch_size") or (m.sum(-1) > 0).sum().clamp(min=1)
    if loss_agg_mode == "token-mean":
        n_tok = info.get("batch_num_tokens") or m.sum().clamp(min=1)
        return loss.sum() / n_tok * dp
    if loss_agg_mode == "token-sum":
        return loss.sum() * dp
    if loss_agg_mode.startswith("seq-mean-token-sum"):
        out = loss.sum(-1).sum() / n_seq * dp
        if loss_agg_mode.endswith("-norm"):
            out = out / (info.get("loss_scale_factor") or m.shape[-1])
        return out
    if loss_agg_mode == "seq-mean-token-mean":
        return (loss.sum(-1) / m.sum(-1).clamp(min=1)).sum() / m.sum() * dp
    raise NotImplementedError(loss_agg_mode)
