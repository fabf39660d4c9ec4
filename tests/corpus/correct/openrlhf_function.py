"""PPO-clip as a plain function with OpenRLHF's argument names (local token mean)."""
import torch

FUZZ = {"fn": "policy_loss", "method": "ppo_clip", "args": ["--param", "eps_low=0.2", "--param", "eps_high=0.2"]}


def policy_loss(log_probs, old_log_probs, advantages, action_mask=None, clip_eps_low=0.2, clip_eps_high=0.2):
    ratio = torch.exp(torch.where(action_mask.bool(), log_probs - old_log_probs, torch.zeros_like(log_probs)))
    surr = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps_low, 1 + clip_eps_high) * advantages)
    surr = torch.where(action_mask.bool(), surr, torch.zeros_like(surr))
    return -surr.sum() / action_mask.sum().clamp(min=1)
