"""Shared helpers, imported by sibling loss files (tests path-target sibling imports)."""
import torch


def masked_sum(x, mask, dim=None):
    x = torch.where(mask.bool(), x, torch.zeros_like(x))
    return x.sum() if dim is None else x.sum(dim)


def masked_mean(x, mask, dim=None):
    m = mask.to(x.dtype)
    if dim is None:
        return masked_sum(x, mask) / m.sum().clamp(min=1.0)
    return masked_sum(x, mask, dim) / m.sum(dim).clamp(min=1.0)


def agg_loss(loss_mat, loss_mask, loss_agg_mode, horizon=None):
    """verl-like aggregation. loss_mat, loss_mask: [B, T]."""
    if loss_agg_mode == "token-mean":
        return masked_mean(loss_mat, loss_mask)
    if loss_agg_mode == "token-sum":
        return masked_sum(loss_mat, loss_mask)
    if loss_agg_mode == "seq-mean-token-sum":
        return masked_sum(loss_mat, loss_mask, -1).sum() / max(loss_mat.shape[0], 1)
    if loss_agg_mode == "seq-mean-token-mean":
        return masked_mean(loss_mat, loss_mask, -1).sum() / max(loss_mat.shape[0], 1)
    if loss_agg_mode == "seq-mean-token-sum-norm":
        h = horizon if horizon is not None else loss_mat.shape[-1]
        return masked_sum(loss_mat, loss_mask, -1).sum() / (max(loss_mat.shape[0], 1) * h)
    raise ValueError(f"unknown loss_agg_mode {loss_agg_mode}")


def verl_agg_loss(loss_mat, loss_mask, loss_agg_mode, config=None):
    """verl core_algos.agg_loss semantics (single rank): fully masked sequences excluded from the
    seq-mean count; seq-mean-token-sum-norm divides by config.loss_scale_factor (else the width)."""
    m = loss_mask.to(loss_mat.dtype)
    lm = torch.where(loss_mask.bool(), loss_mat, torch.zeros_like(loss_mat))
    if loss_agg_mode == "token-mean":
        return lm.sum() / m.sum().clamp(min=1.0)
    if loss_agg_mode == "token-sum":
        return lm.sum()
    n_seq = (m.sum(-1) > 0).to(lm.dtype).sum().clamp(min=1.0)
    if loss_agg_mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        loss = lm.sum(-1).sum() / n_seq
        if loss_agg_mode == "seq-mean-token-sum-norm":
            lsf = getattr(config, "loss_scale_factor", None) if config is not None else None
            loss = loss / (lsf if lsf is not None else loss_mask.shape[-1])
        return loss
    if loss_agg_mode == "seq-mean-token-mean":
        return (lm.sum(-1) / m.sum(-1).clamp(min=1.0)).sum() / n_seq
    raise ValueError(f"unknown loss_agg_mode {loss_agg_mode}")
