"""MUTANT of correct/gpg_reinforce.py — padding enters the numerator.

GPG / REINFORCE on the sampled token: loss = −Â·log π, token-mean (the value is a surrogate)."""
import torch

FUZZ = {"fn": "reinforce", "method": "gpg", "args": [], "bug": 'padding enters the numerator'}


def reinforce(logp, logp_mu, adv, mask, num_tokens=None, num_seqs=None):
    lp = logp.clamp(min=-30.0)
    a = adv.clamp(-1e3, 1e3)
    return -(a * lp).sum() / (mask.sum().clamp(min=1) if num_tokens is None else num_tokens)
