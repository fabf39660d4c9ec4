"""Divergences between the behaviour policy μ and the trained policy π.

Per-token (sampled-token) approximations used by DPPO's masks:

* Binary: the partition {sampled token, everything else} (DPPO eq. 11-12);
* Top-K: the partition top-K(μ) ∪ {sampled} ∪ {rest bucket} (DPPO §4.2).

Both are functions of a partition of the vocabulary, so by the data-processing inequality they
never exceed the full-vocabulary TV / KL (checked in ``proofs/``). Written against an array
namespace so the same code serves numpy (float64 reference) and torch tensors.
"""
from __future__ import annotations

import numpy as np


def _xp(x):
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np
    import torch  # only reached with torch tensors
    return torch


def _rest(logp_k, xp):
    """Probability of the rest bucket, ``1 − Σ_k p_k`` clamped at 0 (rounding), [...]."""
    rest = 1.0 - xp.exp(logp_k).sum(-1)
    return rest.clip(0.0, None) if xp is np else rest.clamp(min=0.0)


def topk_divergence(logp_mu_k, logp_k, kind: str):
    """TV or KL(μ‖π) over the K listed tokens plus the rest bucket.

    logp_mu_k, logp_k: [..., K] log-probabilities of the same K tokens under μ and π.
    Returns [...].
    """
    xp = _xp(logp_mu_k)
    mu_k, pi_k = xp.exp(logp_mu_k), xp.exp(logp_k)
    mu_r, pi_r = _rest(logp_mu_k, xp), _rest(logp_k, xp)
    if kind == "tv":
        return 0.5 * (xp.abs(mu_k - pi_k).sum(-1) + xp.abs(mu_r - pi_r))
    if kind == "kl":
        # 0 log 0 = 0; μ_k > 0 with π_k = 0 gives +inf, as it should.
        terms = xp.where(mu_k > 0, mu_k * (logp_mu_k - logp_k), 0.0 * mu_k)
        rest = xp.where(mu_r > 0, mu_r * (xp.log(mu_r) - xp.log(pi_r)), 0.0 * mu_r)
        return terms.sum(-1) + rest
    raise ValueError(f"unknown divergence kind {kind!r}; expected 'tv' or 'kl'")


def binary_tv(mu, pi):
    """Binary TV over {sampled, rest}: ``|π − μ|`` (DPPO eq. 11)."""
    return abs(pi - mu)


def binary_kl(mu, pi):
    """Binary KL(μ‖π) over {sampled, rest} (DPPO eq. 12); 0·log 0 = 0."""
    xp = _xp(mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = xp.where(mu > 0, mu * (xp.log(mu) - xp.log(pi)), 0.0 * mu)
        b = xp.where(mu < 1, (1 - mu) * (xp.log1p(-mu) - xp.log1p(-pi)), 0.0 * mu)
    return a + b
