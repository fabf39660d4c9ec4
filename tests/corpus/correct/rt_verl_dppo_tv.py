"""Red-team regression case (correct): DPPO Binary-TV mask (arXiv 2602.04879 eq. 11) in verl's policy-loss signature."""
import torch
from _helpers import verl_agg_loss

FUZZ = {'fn': 'compute_policy_loss_dppo_tv', 'method': 'dppo_binary_tv', 'args': ['--param', 'delta_low=0.15', '--param', 'delta_high=0.15', '--option', 'log_ratio_clamp=20']}


def compute_policy_loss_dppo_tv(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean",
                                config=None):
    delta_low = config.clip_ratio_low
    delta_high = config.clip_ratio_high
    log_ratio = torch.clamp(log_prob - old_log_prob, -20.0, 20.0)
    ratio = torch.exp(log_ratio)
    with torch.no_grad():
        pi = torch.exp(log_prob)
        mu = torch.exp(old_log_prob)
        shift = pi - mu
        keep = ~(((advantages > 0) & (shift > delta_high)) | ((advantages < 0) & (-shift > delta_low)))
    pg_losses = -advantages * ratio * keep.to(ratio.dtype)
    return verl_agg_loss(pg_losses, response_mask, loss_agg_mode, config), {"pg_clipfrac": (~keep).float().mean()}
