"""Group-relative advantages (GRPO, DeepSeekMath 2024 eq. 3; Dr. GRPO drops the std division).

``Â_i = (R_i − mean_g R) / (std_g R + eps)`` with std either the population (``ddof=0``, TRL /
verl's torch.std is ``ddof=1``) or the sample convention; ``std_normalize=False`` gives the
centred-only advantages the DRPO paper uses.
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.core import validate


MAX_ABS_REWARD = 1e150


def group_advantages(rewards, *, std_normalize: bool = False, eps: float = 1e-6, ddof: int = 0):
    """rewards: [G, n] (G prompt groups of n samples) → advantages [G, n], float64.

    std_normalize: divide by the group std plus ``eps``; ddof: 0 (population) or 1 (sample, as
    ``torch.std``). A group of one sample with ``ddof=1`` has no std: raises ValueError. A group
    whose std + eps is 0 (identical rewards, ``eps=0``) gets advantage 0, not NaN. Rewards must be
    finite with ``|R| ≤ 1e150`` (so means, differences and squares cannot overflow).
    """
    r = validate.as_float_array("rewards", rewards, lower=-MAX_ABS_REWARD, upper=MAX_ABS_REWARD)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"rewards must be 2-D [G, n] with n >= 1, got shape {list(r.shape)}")
    if not isinstance(std_normalize, (bool, np.bool_)):
        raise TypeError(f"std_normalize must be a bool, got {type(std_normalize).__name__}")
    eps = validate.real_scalar("eps", eps, low=0.0)
    if isinstance(ddof, bool) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof!r}")
    r = r.astype(np.float64)
    centred = r - r.mean(axis=1, keepdims=True)
    if not std_normalize:
        return centred
    if ddof == 1 and r.shape[1] < 2:
        raise ValueError("ddof=1 needs at least 2 samples per group")
    scale = r.std(axis=1, ddof=ddof, keepdims=True) + eps      # [G, 1]
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)
