"""A custom verl policy loss (verl's signature, registered with @register_policy_loss in a real
code base): dual-clip PPO from the actor config, aggregated by verl's agg_loss with the global
batch info. Documented design choice: ℓ − ℓ_old clamped to ±20."""
import torch
from verl.trainer.ppo.core_algos import agg_loss

FUZZ = {"fn": "compute_policy_loss_custom", "method": "dual_clip", "args": ["--option", "log_ratio_clamp=20"]}


def compute_policy_loss_custom(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean",
                               config=None, rollout_is_weights=None):
    clip_low, clip_high = config.clip_ratio_low, config.clip_ratio_high
    clip_c = config.get("clip_ratio_c", 3.0)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, -20.0, 20.0))
    loss1 = -advantages * ratio
    loss2 = -advantages * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    clipped = torch.maximum(loss1, loss2)
    dual = torch.min(-advantages * clip_c, clipped)
    pg_losses = torch.where(advantages < 0, dual, clipped)
    pg_loss = agg_loss(pg_losses, response_mask, loss_agg_mode, **config.global_batch_info)
    return pg_loss, {"actor/pg_clipfrac": (loss2 > loss1).float().mean().item()}
