"""MUTANT of correct/tis_seq_trl_truncate.py — mean of the log-ratios (geometric mean) instead of their sum.

Sequence-level truncated IS written the way TRL's GRPOTrainer applies it
(vllm_importance_sampling_mode="sequence_truncate"): one detached weight
clamp(exp(Σ_t (logp − logp_rollout)), C_min, C_max) per sequence multiplies every token's
policy-gradient term; old = current, so the PPO ratio exp(logp − sg(logp)) is 1 with gradient 1.
Token-mean over the batch (num_tokens when the caller shards)."""
import torch

FUZZ = {"fn": "loss", "method": "tis_seq", "args": [], "bug": 'mean of the log-ratios (geometric mean) instead of their sum'}


def loss(logp, logp_mu, adv, mask, clip_min=0.0, clip_max=2.0, num_tokens=None):
    diff = torch.where(mask, logp.detach() - logp_mu, torch.zeros_like(logp))       # [B, T]
    seq_ratio = torch.exp(diff.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1))                                # [B, 1]
    is_weight = seq_ratio.clamp(min=clip_min, max=clip_max)
    safe_logp = torch.where(mask, logp, torch.zeros_like(logp))
    ratio = torch.exp(safe_logp - safe_logp.detach())
    per_token = -ratio * torch.where(mask, adv, torch.zeros_like(adv)) * is_weight
    n = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    return per_token.sum() / n
