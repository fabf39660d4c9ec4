"""MUTANT of correct/trl_signature_grpo.py — epsilon_high ignored (symmetric clip with epsilon_low).

A GRPO loss in TRL's shape: per_token_logps / old_per_token_logps / advantages [B] /
completion_mask, with TRL's loss types (grpo, bnpo, dr_grpo, dapo). TRL does not clamp."""
import torch

FUZZ = {"fn": "compute_loss", "method": "ppo_clip", "args": ["--adapter", "trl"], "bug": 'epsilon_high ignored (symmetric clip with epsilon_low)'}


def compute_loss(per_token_logps, old_per_token_logps, advantages, completion_mask, *, loss_type="grpo",
                 epsilon_low=0.2, epsilon_high=0.28, max_completion_length=16, num_items_in_batch=None):
    coef_1 = torch.exp(per_token_logps - old_per_token_logps)
    coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_low)
    adv = advantages.unsqueeze(1)
    per_token_loss = -torch.min(coef_1 * adv, coef_2 * adv)
    mask = completion_mask.to(per_token_loss.dtype)
    per_token_loss = torch.where(completion_mask.bool(), per_token_loss, torch.zeros_like(per_token_loss))
    if loss_type == "grpo":
        return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)
    if loss_type == "dapo":
        return (per_token_loss * mask).sum() / num_items_in_batch
    raise ValueError(f"Unknown loss type: {loss_type}")
