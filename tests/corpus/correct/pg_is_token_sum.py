"""Importance-sampled policy gradient −rÂ summed over tokens (token-sum), ratio in float64."""
import torch

FUZZ = {"fn": "pg_is", "method": "pg_is", "args": ["--agg", "token-sum"]}


def pg_is(logp, logp_mu, adv, mask):
    lr = (logp.double() - logp_mu.double()).masked_fill(~mask, 0.0)
    per = -torch.exp(lr) * adv.double().masked_fill(~mask, 0.0)
    return per.sum().to(logp.dtype)
