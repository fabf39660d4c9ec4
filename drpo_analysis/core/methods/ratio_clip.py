"""Ratio-based methods: plain importance-sampled PG, truncated IS (CISPO/TIS), PPO/GRPO clip,
dual-clip and GPG.

Each objective ``J`` is maximised per sampled token; the loss is ``-J``. ``x`` is a
:class:`~drpo_analysis.core.methods.base.TokenView`, ``p`` the resolved parameters.
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import Method, Param


def pg_is(x, p):
    """Unregularised surrogate ``J = r Â`` (DPPO eq. 3, L′_μ(π)). Weight ``w = 1``."""
    return x.r * x.adv


def cispo(x, p):
    """CISPO / truncated IS: ``J = sg(clip(r, C_min, C)) Â ℓ`` (MiniMax-M1 2025, eq. 4).

    Only the gradient is specified: ``∂J/∂ℓ = clip(r, C_min, C) Â``, so ``w = clip(r, C_min, C)/r``.
    """
    w = x.ops.minimum(x.ops.maximum(x.sg(x.r), p.clip_min), p.clip_max)
    return w * x.adv * x.ell


def clipped_ratio_objective(x, ratio, eps_low, eps_high):
    """``min(ρ Â, clip(ρ, 1−ε_l, 1+ε_h) Â)`` written as its two flat pieces (PPO eq. 7).

    For ``Â > 0`` the min picks the clipped value only when ``ρ > 1+ε_h``; for ``Â < 0`` only when
    ``ρ < 1−ε_l``. Shared by PPO/GRPO, dual-clip and GSPO (where ρ is a sequence ratio).
    """
    adv, where = x.adv, x.ops.where
    hi = (adv > 0) & (ratio > 1 + eps_high)
    lo = (adv < 0) & (ratio < 1 - eps_low)
    return where(hi, (1 + eps_high) * adv, where(lo, (1 - eps_low) * adv, ratio * adv))


def ppo_clip(x, p):
    """PPO/GRPO clip with asymmetric ε (PPO eq. 7; DAPO clip-higher ε_h = 0.28)."""
    return clipped_ratio_objective(x, x.r, p.eps_low, p.eps_high)


def dual_clip(x, p):
    """Dual-clip PPO (Ye et al. 2020, eq. 5): for ``Â < 0``, ``max(J_ppo, c Â)``; flat when ``r > c``."""
    return x.ops.where((x.adv < 0) & (x.r > p.dual_clip_c), p.dual_clip_c * x.adv,
                       clipped_ratio_objective(x, x.r, p.eps_low, p.eps_high))


def gpg(x, p):
    """GPG / REINFORCE on the sampled token, ``J = Â ℓ`` (verl ``gpg``); ``w = 1/r``."""
    return x.adv * x.ell


EPS_LOW = Param("eps_low", 0.2, "lower clip offset ε_l (ratio floor 1−ε_l)", low=0.0, high=1.0,
                low_open=False, high_open=True, symbol="epsilon_l",
                source="PPO (arXiv 1707.06347) §6.1, ε = 0.2; DAPO (arXiv 2503.14476) §3.1 ε_low = 0.2")
EPS_HIGH = Param("eps_high", 0.28, "upper clip offset ε_h (ratio ceiling 1+ε_h); DAPO clip-higher",
                 low=0.0, low_open=False, symbol="epsilon_h",
                 source="DAPO (arXiv 2503.14476) §3.1, clip-higher ε_high = 0.28")

METHODS = (
    Method("pg_is", "ratio_clip", "PG-IS (unregularised surrogate)",
           "DPPO (arXiv 2602.04879) eq. 3, L′_μ(π)", pg_is),
    Method("cispo", "ratio_clip", "CISPO / truncated importance sampling (TIS)",
           "MiniMax-M1 (2025) eq. 4; TIS (Yao et al. 2025)", cispo,
           params=(Param("clip_max", 2.0, "upper truncation C of the detached IS weight", low=0.0,
                         symbol="C", source="our choice: MiniMax-M1 (arXiv 2506.13585) eq. 4 and TIS "
                                            "tune C per model"),
                   Param("clip_min", 0.0, "lower truncation of the detached IS weight (0: none)",
                         low=0.0, low_open=False, symbol="C_min",
                         source="MiniMax-M1 (arXiv 2506.13585) eq. 4 truncates from above only")),
           value_meaningful=False,
           notes="value -sg(w)Âℓ is a gradient device, not an objective"),
    Method("ppo_clip", "ratio_clip", "PPO / GRPO ratio clip (asymmetric ε)",
           "PPO (Schulman et al. 2017) eq. 7; GRPO (DeepSeekMath 2024); DAPO clip-higher", ppo_clip,
           params=(EPS_LOW, EPS_HIGH)),
    Method("dual_clip", "ratio_clip", "Dual-clip PPO",
           "Ye et al. 2020 (arXiv 1912.09729) eq. 5; verl 'vanilla' with clip_ratio_c", dual_clip,
           params=(EPS_LOW, EPS_HIGH,
                   Param("dual_clip_c", 3.0, "dual-clip constant c (> 1) for Â < 0", low=1.0,
                         symbol="c", source="Ye et al. (arXiv 1912.09729) eq. 5, c = 3; verl's "
                                            "default clip_ratio_c = 3"))),
    Method("gpg", "ratio_clip", "GPG (REINFORCE on the sampled token)",
           "GPG (Chu et al. 2025) eq. 3; verl 'gpg'", gpg, value_meaningful=False,
           notes="value -Âℓ is a gradient device"),
)
