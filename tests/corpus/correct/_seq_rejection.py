"""A verl-style sequence rejection helper shared by the rs_seq_* corpus files: token divergences
k1 = −log r, k2 = ½ (log r)², k3 = r − 1 − log r reduced per sequence (sum, mean or max over the
valid tokens); k1 is bounded on both sides in log space, k2/k3 from above. The kept sequences'
tokens contribute −r·Â (r = π/μ), token-mean over every valid token."""
import math

import torch

K = {"k1": lambda lr: -lr, "k2": lambda lr: 0.5 * lr ** 2, "k3": lambda lr: torch.expm1(lr) - lr}


def reduce(x, mask, how):
    m = mask.to(x.dtype)
    if how == "sum":
        return (x * m).sum(-1)
    if how == "mean":
        return (x * m).sum(-1) / m.sum(-1).clamp(min=1)
    return torch.where(mask, x, torch.full_like(x, -math.inf)).amax(-1).nan_to_num(neginf=0.0)


def rejection_loss(logp, logp_mu, adv, mask, how, k, lower=None, upper=None, delta=None):
    log_ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp))
    stat = reduce(K[k](log_ratio.detach()), mask, how)                             # [B]
    if k == "k1":
        keep = (stat >= math.log(lower)) & (stat <= math.log(upper))
    else:
        keep = stat <= delta
    per_token = -torch.exp(log_ratio) * adv * keep[:, None]
    return torch.where(mask, per_token, torch.zeros_like(per_token)).sum() / mask.sum().clamp(min=1)
