"""Red-team regression case (correct): prompt-mean aggregation that averages over the prompt groups
holding tokens (a group whose rows are all padding is not counted), the way sequence means skip
empty rows in verl; both conventions are accepted and reported as a note."""
import torch

FUZZ = {'fn': 'ppo_prompt_mean', 'method': 'ppo_clip', 'args': ['--param', 'eps_low=0.2', '--param', 'eps_high=0.28', '--agg', 'prompt-mean']}


def ppo_prompt_mean(logp, logp_mu, adv, mask, group_ids, eps_low=0.2, eps_high=0.28):
    ratio = torch.exp(torch.where(mask, logp - logp_mu, torch.zeros_like(logp)))
    per_token = -torch.min(ratio * adv, ratio.clamp(1 - eps_low, 1 + eps_high) * adv)
    per_token = torch.where(mask, per_token, torch.zeros_like(per_token))
    groups = torch.as_tensor(group_ids).long()
    G = int(groups.max()) + 1 if groups.numel() else 0
    total = torch.zeros(G, dtype=per_token.dtype).index_add(0, groups, per_token.sum(-1))
    count = torch.zeros(G, dtype=per_token.dtype).index_add(0, groups, mask.sum(-1).to(per_token.dtype))
    has_tokens = count > 0
    return (total / count.clamp(min=1)).sum() / has_tokens.sum().clamp(min=1)
