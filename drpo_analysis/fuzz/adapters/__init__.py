"""Adapters: reduce an implementation (ours, a user's, verl's, TRL's, OpenRLHF's) to a
:class:`~drpo_analysis.fuzz.targets.Target` with the canonical signature and translate its
parameter conventions into our registry's parameters and the oracle's
:class:`~drpo_analysis.fuzz.oracle.Conventions`.

``load(spec, adapter=..., method=..., params=..., **options)`` accepts the command line's TARGET:
``module:function`` or ``path.py:function`` (plain), ``verl:MODE`` (verl), ``trl:LOSS_TYPE``
(trl), ``openrlhf:ppo`` / ``openrlhf:gspo`` (openrlhf), ``areal:KIND``, ``skyrl:KIND``,
``torchtune:ppo``, ``swift:LOSS_TYPE``, ``art:KIND`` (the ecosystem adapters; kinds in each module's table).
"""
from __future__ import annotations

import importlib

ADAPTERS = ("plain", "verl", "trl", "openrlhf", "areal", "skyrl", "torchtune", "swift", "art")


def module(adapter: str):
    if adapter not in ADAPTERS:
        raise ValueError(f"adapter must be one of {', '.join(ADAPTERS)}, got {adapter!r}")
    return importlib.import_module(f"drpo_analysis.fuzz.adapters.{adapter}")


#: argument names that identify a framework's policy-loss signature (all of them must be named)
SIGNATURES = {
    "verl": ("old_log_prob", "log_prob", "advantages", "response_mask"),
    "openrlhf": ("log_probs", "old_log_probs", "advantages"),
    "trl": ("per_token_logps", "old_per_token_logps", "advantages"),
}


def detect(obj) -> str:
    """The adapter whose signature ``obj`` has (:data:`SIGNATURES`; a class is judged by its
    ``forward``), else ``"plain"``. Ambiguous signatures (two frameworks' names) raise ValueError."""
    import inspect
    from drpo_analysis.fuzz.targets import call_signature
    fn = getattr(obj, "forward", obj) if inspect.isclass(obj) else obj
    try:
        named = set(call_signature(fn).parameters)
    except (TypeError, ValueError):
        return "plain"
    hits = [a for a, names in SIGNATURES.items() if set(names) <= named]
    if len(hits) > 1:
        raise ValueError(f"the signature matches several frameworks ({', '.join(hits)}): give --adapter")
    return hits[0] if hits else "plain"


def load(spec: str, *, adapter: str | None = None, method: str | None = None, params=None, **options):
    """A Target from a TARGET string (see module docstring). ``adapter=None``: from the prefix
    (``verl:`` ...), else from the function's signature (:func:`detect`)."""
    if adapter is None:
        adapter = next((a for a in ADAPTERS[1:] if spec.startswith(a + ":")), None)
        if adapter is None:
            from drpo_analysis.fuzz.adapters import plain
            adapter = detect(plain.resolve(spec))
    symmetric = options.pop("symmetric_clip", False)
    t = module(adapter).load(spec, method=method, params=params, **options)
    return _declared(t, agg="agg" in options, symmetric_clip=symmetric)


def make_target(adapter: str | None, obj, *, method=None, params=None, **options):
    """A Target from a callable (plain) or a mode name (frameworks)."""
    if isinstance(obj, str):
        return load(obj, adapter=adapter, method=method, params=params, **options)
    symmetric = options.pop("symmetric_clip", False)
    t = module(adapter or detect(obj)).target(obj, method=method, params=params, **options)
    return _declared(t, agg="agg" in options, symmetric_clip=symmetric)


#: options every adapter takes, handled here: ``symmetric_clip=true`` declares that the target
#: supports equal lower and upper bounds only (one symmetric clip): the sweep keeps them equal
COMMON_OPTIONS = ("symmetric_clip",)


def _declared(t, *, agg: bool, symmetric_clip) -> "Target":
    """``t`` with the declarations every adapter shares (see :data:`COMMON_OPTIONS`)."""
    from drpo_analysis.fuzz.targets import BOUND_PAIRS

    t.agg_declared = agg
    if symmetric_clip not in (True, False):
        raise ValueError(f"symmetric_clip must be true or false, got {symmetric_clip!r}")
    if symmetric_clip:
        unequal = [f"{lo}={t.params[lo]:g} != {hi}={t.params[hi]:g}" for lo, hi in BOUND_PAIRS
                   if lo in t.params and hi in t.params and t.params[lo] != t.params[hi]]
        if unequal:
            raise ValueError(f"symmetric_clip declared, but {unequal[0]}: a symmetric clip needs equal bounds")
        t.symmetric_clip, t.keep_ties, t.split_ties = True, True, ()
    return t


def reproducer_line(spec: str, adapter: str, method: str, params, options) -> str:
    opts = "".join(f", {k}={v!r}" for k, v in sorted(options.items()))
    return (f"from drpo_analysis.fuzz import adapters\n"
            f"target = adapters.load({spec!r}, adapter={adapter!r}, method={method!r}, "
            f"params={dict(params or {})!r}{opts})")
