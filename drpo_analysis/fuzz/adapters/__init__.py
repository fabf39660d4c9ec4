"""Adapters: reduce an implementation (ours, a user's, verl's, TRL's, OpenRLHF's) to a
:class:`~drpo_analysis.fuzz.targets.Target` with the canonical signature and translate its
parameter conventions into our registry's parameters and the oracle's
:class:`~drpo_analysis.fuzz.oracle.Conventions`.

``load(spec, adapter=..., method=..., params=..., **options)`` accepts the command line's TARGET:
``module:function`` or ``path.py:function`` (plain), ``verl:MODE`` (verl), ``trl:LOSS_TYPE``
(trl), ``openrlhf:ppo`` / ``openrlhf:gspo`` (openrlhf).
"""
from __future__ import annotations

import importlib

ADAPTERS = ("plain", "verl", "trl", "openrlhf", "areal", "skyrl", "torchtune")


def module(adapter: str):
    if adapter not in ADAPTERS:
        raise ValueError(f"adapter must be one of {', '.join(ADAPTERS)}, got {adapter!r}")
    return importlib.import_module(f"drpo_analysis.fuzz.adapters.{adapter}")


def load(spec: str, *, adapter: str = "plain", method: str | None = None, params=None, **options):
    """A Target from a TARGET string (see module docstring)."""
    return module(adapter).load(spec, method=method, params=params, **options)


def make_target(adapter: str, obj, *, method=None, params=None, **options):
    """A Target from a callable (plain) or a mode name (frameworks)."""
    if isinstance(obj, str):
        return load(obj, adapter=adapter, method=method, params=params, **options)
    return module(adapter).target(obj, method=method, params=params, **options)


def reproducer_line(spec: str, adapter: str, method: str, params, options) -> str:
    opts = "".join(f", {k}={v!r}" for k, v in sorted(options.items()))
    return (f"from drpo_analysis.fuzz import adapters\n"
            f"target = adapters.load({spec!r}, adapter={adapter!r}, method={method!r}, "
            f"params={dict(params or {})!r}{opts})")
