"""MUTANT of correct/gpg_reinforce.py — inputs cleaned in place (masked_fill_ on the caller's tensors).

GPG / REINFORCE on the sampled token: loss = −Â·log π, token-mean (the value is a surrogate)."""
import torch

FUZZ = {"fn": "reinforce", "method": "gpg", "args": [], "bug": "inputs cleaned in place (masked_fill_ on the caller's tensors)"}


def reinforce(logp, logp_mu, adv, mask, num_tokens=None, num_seqs=None):
    lp = logp.masked_fill(~mask, 0.0)
    a = adv.masked_fill_(~mask, 0.0)
    return -(a * lp).sum() / (mask.sum().clamp(min=1) if num_tokens is None else num_tokens)
