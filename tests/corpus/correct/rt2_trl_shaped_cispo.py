"""Red-team regression case (correct): a user's CISPO in TRL's shape (loss_type='cispo': the ratio
capped at epsilon_high, detached, times Â·logp; token mean over num_items_in_batch). TRL has no
lower CISPO bound, so the sweep must not draw clip_min away from 0 for this target."""
import torch

FUZZ = {'fn': 'grpo_loss', 'method': 'cispo', 'args': ['--adapter', 'trl', '--param', 'clip_min=0', '--param', 'clip_max=5']}


def grpo_loss(per_token_logps, old_per_token_logps, advantages, completion_mask, loss_type="grpo",
              epsilon_low=0.2, epsilon_high=0.28, num_items_in_batch=None):
    valid = completion_mask.bool()
    ratio = torch.exp(torch.where(valid, per_token_logps - old_per_token_logps, torch.zeros_like(per_token_logps)))
    adv = advantages.unsqueeze(1)
    if loss_type == "cispo":
        per_token = -torch.clamp(ratio, max=epsilon_high).detach() * adv * per_token_logps
    else:
        per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * adv)
    per_token = torch.where(valid, per_token, torch.zeros_like(per_token))
    if loss_type in ("cispo", "dapo"):
        n = num_items_in_batch if num_items_in_batch is not None else valid.sum().clamp(min=1)
        return per_token.sum() / n
    return (per_token.sum(-1) / valid.sum(-1).clamp(min=1)).mean()
