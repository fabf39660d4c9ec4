"""The plain adapter: any callable with our canonical signature (see ``fuzz.targets``)::

    def my_loss(logp, logp_mu, adv, mask, **params) -> torch.Tensor  # scalar

``params`` are the method's parameters by our registry's names, all of them (defaults filled in).
Options: ``agg`` (an aggregation mode of :mod:`drpo_analysis.core.aggregation`, default token-mean),
``horizon`` (the constant of seq-mean-token-sum-norm), ``log_ratio_clamp`` ((lo, hi), "lo,hi" or a bound
b for ±b), ``clamp_scope`` ("everywhere" or "ratio"), ``statistics_clamp`` (the same forms: each
token's ℓ − ℓ_μ clamped inside sequence statistics), ``is_truncation`` (C), ``compare_value`` (bool),
``count_empty_rows`` (bool), ``timeout`` (s).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from drpo_analysis.core import aggregation, methods
from drpo_analysis.fuzz.oracle import CLAMP_SCOPES, Conventions
from drpo_analysis.fuzz.targets import Target


def conventions(*, agg="token-mean", horizon=None, log_ratio_clamp=None, is_truncation=None,
                compare_value=True, count_empty_rows=True, clamp_scope="everywhere",
                statistics_clamp=None) -> Conventions:
    if agg not in aggregation.MODES:
        raise ValueError(f"agg must be one of {', '.join(aggregation.MODES)}, got {agg!r}")
    if clamp_scope not in CLAMP_SCOPES:
        raise ValueError(f"clamp_scope must be one of {', '.join(CLAMP_SCOPES)}, got {clamp_scope!r}")
    return Conventions(agg=agg, horizon=None if horizon is None else float(horizon),
                       log_ratio_clamp=_bounds(log_ratio_clamp),
                       is_truncation=None if is_truncation is None else float(is_truncation),
                       compare_value=bool(compare_value), count_empty_rows=bool(count_empty_rows),
                       clamp_scope=clamp_scope, statistics_clamp=_bounds(statistics_clamp))


def _bounds(value) -> tuple[float, float] | None:
    """A clamp's ``(lo, hi)`` from a pair, a ``"lo,hi"`` string (the command line) or a bound b (±b)."""
    if isinstance(value, str) and "," in value:
        value = tuple(float(x) for x in value.strip("()[] ").split(","))
    if value is not None and not isinstance(value, (tuple, list)):
        value = (-float(value), float(value))
    return None if value is None else tuple(map(float, value))


#: argument names under which a plain target is told its aggregation mode / L_const (if it names one)
AGG_ARGS = ("loss_agg_mode", "agg", "agg_mode", "aggregation", "loss_aggregation")
HORIZON_ARGS = ("horizon", "loss_scale_factor", "max_len", "max_completion_length")


def target(fn, *, method, params=None, name=None, spec=None, reproducer=None, timeout=20.0,
           **options) -> Target:
    """A Target for ``fn(logp, logp_mu, adv, mask, **params)``. If ``fn`` names an aggregation
    argument (:data:`AGG_ARGS`) it is passed the declared mode (and L_const under a
    :data:`HORIZON_ARGS` name), and the sweep exercises every other mode it accepts."""
    if method is None:
        raise ValueError("method is required (one of: " + ", ".join(methods.names()) + ")")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    m = methods.get(method)
    p = m.resolve_params(params)
    spec = spec or _spec_of(fn)
    from drpo_analysis.fuzz.adapters import reproducer_line
    repro = reproducer or (reproducer_line(spec, "plain", m.name, params, options) if spec else "")
    conv = conventions(**options)
    t = Target(name or spec or getattr(fn, "__qualname__", repr(fn)), fn, m.name, p, conv, reproducer=repro,
               timeout=float(timeout))
    named = t.named
    if named and "*" not in t.accepts:         # every parameter is passed by its registry name
        missing = [k for k in p if k not in named]
        if missing:
            raise ValueError(f"{t.name} takes no argument {', '.join(missing)}, which {m.name} is called with "
                             f"(the registry's names: {', '.join(p)}); add them as keyword arguments")
    agg_arg = next((a for a in AGG_ARGS if a in named), None)
    horizon_arg = next((a for a in HORIZON_ARGS if a in named), None)
    if agg_arg:
        t.call_params = {**p, agg_arg: conv.agg}
        if horizon_arg and conv.agg == "seq-mean-token-sum-norm" and conv.horizon is not None:
            t.call_params[horizon_arg] = conv.horizon
        t.agg_modes = tuple(a for a in aggregation.MODES
                            if (a != "prompt-mean" or "group_ids" in named)
                            and (a != "seq-mean-token-sum-norm" or horizon_arg))

    def variant(params=None, agg=None):
        opts = dict(options)
        if agg is not None:
            opts["agg"] = agg
            if agg == "seq-mean-token-sum-norm":
                opts["horizon"] = SWEEP_HORIZON
        return target(fn, method=m.name, params=p if params is None else params, spec=spec, timeout=timeout,
                      name=t.name, **opts)
    t.variant = variant
    return t


#: L_const given to a target swept to seq-mean-token-sum-norm (not a padded width the fuzzer draws)
SWEEP_HORIZON = 23


def _spec_of(fn) -> str | None:
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not mod or "<" in qual:
        return None
    if mod == "__main__":
        f = getattr(sys.modules.get("__main__"), "__file__", None)
        return f"{f}:{qual}" if f else None
    return f"{mod}:{qual}"


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a SyntaxError's message already names its file and line)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def resolve(spec: str):
    """The callable named by ``module:function`` or ``path.py:function`` (dots allowed after ':')."""
    if ":" not in spec:
        raise ValueError(f"target must be 'module:function' or 'path.py:function', got {spec!r}")
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"no such file {where!r} in target {spec!r}")
        name = f"_drpo_fuzz_target_{abs(hash(str(path.resolve())))}"
        mod = sys.modules.get(name)
        if mod is None:
            folder = str(path.resolve().parent)     # the file imports its siblings, as `python file.py` would
            if folder not in sys.path:
                sys.path.insert(0, folder)
            sp = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(sp)
            sys.modules[name] = mod
            try:
                sp.loader.exec_module(mod)
            except Exception as exc:   # noqa: BLE001 - the user's file: a usage error, not a finding
                del sys.modules[name]
                raise ValueError(f"cannot import {where!r}: {_one_line(exc)}") from None
    else:
        try:
            mod = importlib.import_module(where)
        except Exception as exc:       # noqa: BLE001
            raise ValueError(f"cannot import {where!r}: {_one_line(exc)}") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load(spec: str, *, method=None, params=None, **options) -> Target:
    return target(resolve(spec), method=method, params=params, spec=spec, **options)
