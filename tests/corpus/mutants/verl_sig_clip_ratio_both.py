"""MUTANT of correct/verl_signature_clip_fallback.py — the legacy symmetric config.clip_ratio read for both bounds.

A verl policy loss (verl's signature) that takes its clip bounds the way verl's own
compute_policy_loss_vanilla does: clip_ratio_low / clip_ratio_high, each falling back to the
symmetric clip_ratio when unset. PPO clip (no dual clip) written per advantage sign, aggregated by
verl's agg_loss with the global batch info. Declared with a symmetric 0.2 (the sweep then also
draws the two bounds apart). Documented design choice: ℓ − ℓ_old clamped to ±20."""
import torch
from verl.trainer.ppo.core_algos import agg_loss

FUZZ = {"fn": "clipped_pg_loss", "method": "ppo_clip",
        "args": ["--param", "eps_low=0.2", "--param", "eps_high=0.2", "--option", "log_ratio_clamp=20"],
        "bug": "config.clip_ratio read for both bounds (right only while clip_ratio_low = clip_ratio_high = clip_ratio)"}


def clipped_pg_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None,
                    rollout_is_weights=None):
    eps_low = eps_high = config.get("clip_ratio", 0.2)
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0))     # [B, T]
    # Â > 0: min(r, 1 + ε_high)·Â; Â < 0: max(r, 1 − ε_low)·Â (the clipped surrogate, one sign at a time)
    capped = torch.where(advantages > 0, torch.clamp(ratio, max=1.0 + eps_high), torch.clamp(ratio, min=1.0 - eps_low))
    pg_losses = -advantages * capped
    if rollout_is_weights is not None:
        pg_losses = pg_losses * rollout_is_weights
    return agg_loss(pg_losses, response_mask, loss_agg_mode, **config.global_batch_info), {}
