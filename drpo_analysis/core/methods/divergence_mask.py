"""DPPO's divergence trust regions: a hard mask on the sampled token (DPPO, arXiv 2602.04879).

The mask ``M`` drops a token's gradient when its update moves the policy *further* out of the
trust region: ``Â > 0`` and the token gained too much probability, or ``Â < 0`` and it lost too
much. In code (Stable-RL, verl ``dppo_tv``/``dppo_kl``) the loss is ``−Â · sg(r) · M · ℓ``; its
gradient equals that of the objective ``J = M r Â`` used here (mask frozen).
"""
from __future__ import annotations

from drpo_analysis.core.divergences import topk_divergence
from drpo_analysis.core.methods.base import Extra, Method, Param, Statistic


def masked_pg(x, too_far_up, too_far_down):
    """``J = M r Â`` with ``M = 0`` iff (Â>0 and too_far_up) or (Â<0 and too_far_down) (DPPO eq. 10)."""
    masked = ((x.adv > 0) & too_far_up) | ((x.adv < 0) & too_far_down)
    return x.ops.where(masked, 0 * x.adv, x.r * x.adv)


def binary_kl(x):
    """Binary KL(μ‖π) over {sampled, rest}: ``μ log(μ/π) + (1−μ) log((1−μ)/(1−π))`` (DPPO eq. 12)."""
    ops = x.ops
    ell, ell_mu = x.sg(x.ell), x.ell_mu
    return x.mu * (ell_mu - ell) + (1 - x.mu) * (ops.log1p(-x.mu) - ops.log1p(-x.sg(x.pi)))


def dppo_binary_tv(x, p):
    """DPPO Binary-TV: masked iff ``s Δ > δ`` (δ_high for Â>0, δ_low for Â<0) (DPPO eq. 11)."""
    shift = x.sg(x.shift)
    return masked_pg(x, shift > p.delta_high, -shift > p.delta_low)


def dppo_binary_kl(x, p):
    """DPPO Binary-KL: masked iff ``D_KL^bin > δ`` and ``s Δ > 0`` (DPPO eq. 12)."""
    shift, d = x.sg(x.shift), binary_kl(x)
    return masked_pg(x, (shift > 0) & (d > p.delta_high), (shift < 0) & (d > p.delta_low))


def _topk(statistic):
    def objective(x, p):
        shift, d = x.sg(x.shift), x.extra(statistic)
        return masked_pg(x, (shift > 0) & (d > p.delta_high), (shift < 0) & (d > p.delta_low))
    objective.__name__ = f"dppo_{statistic.name}"
    objective.__doc__ = (f"DPPO {statistic.doc}: masked iff it exceeds δ and s Δ > 0 (DPPO §4.2).")
    return objective


def _deltas(default, what, source, reported=()):
    return (Param("delta_low", default, f"{what} threshold for Â < 0 tokens", low=0.0, symbol="delta_l",
                  source=source, reported=reported),
            Param("delta_high", default, f"{what} threshold for Â > 0 tokens", low=0.0, symbol="delta_h",
                  source=source, reported=reported))


TV_SOURCE = "DPPO (arXiv 2602.04879) experiments: δ = 0.15 in the sanity runs, 0.2 in the scaling runs"
KL_SOURCE = "DPPO (arXiv 2602.04879) experiments: Binary-KL δ = 0.05"


TOPK_LOGP_MU = Extra("topk_logp_mu", "log μ of the tokens in top-K(μ) ∪ {sampled}, [..., K]",
                     lambda xp, b: b.topk_logp_mu, trailing=1, high=0.0, allow_neg_inf=True,
                     reads=("topk_logp_mu",))
TOPK_LOGP = Extra("topk_logp", "log π of the same tokens, [..., K]", lambda xp, b: b.topk_logp,
                  trailing=1, high=0.0, allow_neg_inf=True, moves_with_ell=True, reads=("topk_logp",))


def _topk_statistic(kind):
    def compute(logp_mu_k, logp_k):
        return topk_divergence(logp_mu_k, logp_k, kind, check=False)
    return Statistic(f"topk_{kind}", f"Top-K {kind.upper()} over top-K(μ) ∪ {{sampled}} ∪ {{rest}}",
                     f"D_{kind.upper()}^K", (TOPK_LOGP_MU, TOPK_LOGP), compute, low=0.0)


TOPK_TV, TOPK_KL = _topk_statistic("tv"), _topk_statistic("kl")

METHODS = (
    Method("dppo_binary_tv", "divergence_mask", "DPPO Binary-TV mask",
           "DPPO (arXiv 2602.04879) eq. 11; verl 'dppo_tv'", dppo_binary_tv,
           params=_deltas(0.15, "TV (absolute probability shift)", TV_SOURCE, (0.2,))),
    Method("dppo_binary_kl", "divergence_mask", "DPPO Binary-KL mask",
           "DPPO (arXiv 2602.04879) eq. 12; verl 'dppo_kl'", dppo_binary_kl,
           params=_deltas(0.05, "binary KL(μ‖π)", KL_SOURCE)),
    Method("dppo_topk_tv", "divergence_mask", "DPPO Top-K TV mask",
           "DPPO (arXiv 2602.04879) §4.2, K = 20", _topk(TOPK_TV),
           params=_deltas(0.15, "Top-K TV", TV_SOURCE, (0.2,)), statistics=(TOPK_TV,)),
    Method("dppo_topk_kl", "divergence_mask", "DPPO Top-K KL mask",
           "DPPO (arXiv 2602.04879) §4.2, K = 20", _topk(TOPK_KL),
           params=_deltas(0.05, "Top-K KL(μ‖π)", KL_SOURCE), statistics=(TOPK_KL,)),
)
