"""Red-team regression case (correct): verl's GSPO as written upstream (clamp(max=10) on the combined log-ratio), verl signature."""
import torch
from _helpers import verl_agg_loss

FUZZ = {'fn': 'compute_policy_loss_gspo', 'method': 'gspo_token', 'args': ['--param', 'eps_low=3e-4', '--param', 'eps_high=4e-4', '--option', 'agg=seq-mean-token-mean', '--option', 'log_ratio_clamp=-inf,10']}


def compute_policy_loss_gspo(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="seq-mean-token-mean",
                             config=None):
    clip_ratio_low = config.clip_ratio_low
    clip_ratio_high = config.clip_ratio_high
    negative_approx_kl = log_prob - old_log_prob
    seq_lengths = torch.sum(response_mask, dim=-1).clamp(min=1)
    negative_approx_kl_seq = torch.sum(torch.where(response_mask.bool(), negative_approx_kl, 0.0), dim=-1) / seq_lengths
    log_seq_importance_ratio = log_prob - log_prob.detach() + negative_approx_kl_seq.detach().unsqueeze(-1)
    log_seq_importance_ratio = torch.clamp(log_seq_importance_ratio, max=10.0)
    seq_importance_ratio = torch.exp(log_seq_importance_ratio)
    pg_losses1 = -advantages * seq_importance_ratio
    pg_losses2 = -advantages * torch.clamp(seq_importance_ratio, 1 - clip_ratio_low, 1 + clip_ratio_high)
    pg_losses = torch.maximum(pg_losses1, pg_losses2)
    return verl_agg_loss(pg_losses, response_mask, "seq-mean-token-mean", config), {}
