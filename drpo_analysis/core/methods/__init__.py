"""The method registry: one definition per method, every downstream tool reads it from here.

>>> from drpo_analysis import methods
>>> methods.get("drpo").params[0].default
12.5
"""
from __future__ import annotations

from drpo_analysis.core.methods import (divergence_mask, quadratic_penalty, ratio_clip, rollout_correction,
                                   sampled_penalty, sequence_ratio)
from drpo_analysis.core.methods.base import Extra, Method, Param, TokenView

_FAMILIES = (ratio_clip, divergence_mask, quadratic_penalty, sampled_penalty, sequence_ratio, rollout_correction)
REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method; every face (symbolic, numpy, torch, fuzz, sim, rl) picks it up."""
    if not isinstance(method, Method):
        raise TypeError(f"method must be a Method, got {type(method).__name__}")
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    REGISTRY[method.name] = method
    return method


for _family in _FAMILIES:
    for _m in _family.METHODS:
        register(_m)


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str | Method) -> Method:
    """Look a method up by name; unknown names raise ``ValueError`` listing the known ones."""
    if isinstance(name, Method):
        return name
    if not isinstance(name, str):
        raise TypeError(f"method must be a method name (str), got {type(name).__name__}")
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(REGISTRY)}") from None


__all__ = ["Extra", "Method", "Param", "TokenView", "REGISTRY", "get", "names", "register"]
