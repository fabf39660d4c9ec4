"""GPG / REINFORCE on the sampled token: loss = −Â·log π, token-mean (the value is a surrogate)."""
import torch

FUZZ = {"fn": "reinforce", "method": "gpg", "args": []}


def reinforce(logp, logp_mu, adv, mask, num_tokens=None, num_seqs=None):
    lp = logp.masked_fill(~mask, 0.0)
    a = adv.masked_fill(~mask, 0.0)
    return -(a * lp).sum() / (mask.sum().clamp(min=1) if num_tokens is None else num_tokens)
