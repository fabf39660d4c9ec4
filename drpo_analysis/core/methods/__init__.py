"""The method registry: one definition per method, every downstream tool reads it from here.

>>> from drpo_analysis import methods
>>> methods.get("drpo").params[0].default
12.5
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from drpo_analysis.core.methods import (divergence_mask, quadratic_penalty, ratio_clip, rollout_correction,
                                   sampled_penalty, sequence_ratio)
from drpo_analysis.core.methods.base import Extra, Method, Param, Statistic, TokenView
from drpo_analysis.core.methods.quadratic_penalty import DPPO_CONSISTENT, DPPO_TV_DELTA

_FAMILIES = (ratio_clip, divergence_mask, quadratic_penalty, sampled_penalty, sequence_ratio, rollout_correction)
REGISTRY: dict[str, Method] = {}
_RETIRED: set[str] = set()   # names unregistered in this process (derivations are cached by name)


def register(method: Method) -> Method:
    """Add a method; every face (symbolic, numpy, torch, fuzz, sim, rl) picks it up."""
    if not isinstance(method, Method):
        raise TypeError(f"method must be a Method, got {type(method).__name__}")
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    if method.name in _RETIRED:
        raise ValueError(f"method name {method.name!r} was registered and removed before in this "
                         "process; derivations are cached by name, so choose a new name")
    REGISTRY[method.name] = method
    return method


def unregister(name: str) -> Method:
    """Remove a method registered with :func:`register`; its name cannot be registered again."""
    method = REGISTRY.pop(get(name).name)
    _RETIRED.add(method.name)
    return method


@contextmanager
def registered(method: Method) -> Iterator[Method]:
    """``with methods.registered(m):`` the method is in the registry inside the block only."""
    register(method)
    try:
        yield method
    finally:
        unregister(method.name)


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


__all__ = ["DPPO_CONSISTENT", "DPPO_TV_DELTA", "Extra", "Method", "Param", "Statistic", "TokenView", "REGISTRY", "get", "names", "register",
           "registered", "unregister"]
