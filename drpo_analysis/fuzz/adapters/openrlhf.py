"""The OpenRLHF adapter: ``openrlhf/models/loss.py``'s ``PolicyLoss``, loaded by file path.

``openrlhf.models`` imports flash_attn and deepspeed through its package ``__init__``; the loss
module needs only ``.utils.masked_mean``. So the two files are loaded by path into a private
package (``utils.py`` with a stand-in ``deepspeed`` module only if deepspeed is not installed).

``PolicyLoss(clip_eps_low, clip_eps_high, dual_clip, token_level_loss, policy_loss_type)`` and
``forward(log_probs, old_log_probs, advantages, action_mask, dp_size=, batch_num_tokens=,
global_batch_size=)`` → (loss, ...); the adapter returns ``loss / dp_size`` (the rank's share).

| policy_loss_type | method | conventions |
|---|---|---|
| ppo | ppo_clip (dual_clip None) or dual_clip | log-ratio clamp ±20; token-mean (token_level_loss) |
| gspo | gspo_token (gradient through the sequence mean: equal per token when Â is per sequence) | seq-mean-token-mean over non-empty rows |
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import plain, reproducer_line
from drpo_analysis.fuzz.targets import BoundFields, Target

_PKG = "_drpo_openrlhf_models"


def loss_module():
    """OpenRLHF's ``models/loss.py`` loaded by path (see module docstring)."""
    if f"{_PKG}.loss" in sys.modules:
        return sys.modules[f"{_PKG}.loss"]
    spec = importlib.util.find_spec("openrlhf")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("openrlhf is not installed (pip install --no-deps openrlhf==0.11.2)")
    root = Path(list(spec.submodule_search_locations)[0]) / "models"
    pkg = types.ModuleType(_PKG)
    pkg.__path__ = [str(root)]
    sys.modules[_PKG] = pkg
    stub = "deepspeed" not in sys.modules and importlib.util.find_spec("deepspeed") is None
    if stub:   # utils.py imports deepspeed at top level; masked_mean does not use it
        sys.modules["deepspeed"] = types.ModuleType("deepspeed")
    try:
        for name in ("utils", "loss"):
            s = importlib.util.spec_from_file_location(f"{_PKG}.{name}", root / f"{name}.py")
            mod = importlib.util.module_from_spec(s)
            sys.modules[f"{_PKG}.{name}"] = mod
            s.loader.exec_module(mod)
    finally:
        if stub:   # a stand-in left in sys.modules breaks transformers' find_spec("deepspeed")
            del sys.modules["deepspeed"]
    return sys.modules[f"{_PKG}.loss"]


def target(kind="ppo", *, method=None, params=None, token_level_loss=True, timeout=20.0, **options) -> Target:
    """OpenRLHF's ``PolicyLoss`` of ``policy_loss_type=kind``, or (a class or callable) a user's
    loss in OpenRLHF's shape (:func:`user_target`)."""
    if not isinstance(kind, str):
        return user_target(kind, method=method, params=params, token_level_loss=token_level_loss, timeout=timeout,
                           **options)
    if kind not in ("ppo", "gspo"):
        raise ValueError(f"OpenRLHF policy_loss_type must be 'ppo' or 'gspo', got {kind!r}")
    method = method or ("gspo_token" if kind == "gspo" else "ppo_clip")
    allowed = ("gspo_token",) if kind == "gspo" else ("ppo_clip", "dual_clip")
    if method not in allowed:
        raise ValueError(f"OpenRLHF {kind!r} implements {allowed}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    pl = loss_module().PolicyLoss(clip_eps_low=p["eps_low"], clip_eps_high=p["eps_high"],
                                  dual_clip=p.get("dual_clip_c"), token_level_loss=token_level_loss,
                                  policy_loss_type=kind)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        dp = dp_size or 1
        out = pl(logp, logp_mu, adv, action_mask=mask.to(logp.dtype), dp_size=dp,
                 batch_num_tokens=num_tokens, global_batch_size=num_seqs)
        return out[0] / dp

    token_level = token_level_loss and kind == "ppo"
    conv = plain.conventions(agg="token-mean" if token_level else "seq-mean-token-mean",
                             count_empty_rows=token_level, log_ratio_clamp=20.0 if kind == "ppo" else None)
    spec = f"openrlhf:{kind}"
    options = {} if token_level_loss else {"token_level_loss": False}
    t = Target(spec, loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "openrlhf", m.name, params, options),
               timeout=timeout, agg_modes=("token-mean", "seq-mean-token-mean") if kind == "ppo" else ())

    def variant(params=None, agg=None):
        level = token_level_loss if agg is None else agg == "token-mean"
        return target(kind, method=m.name, params=p if params is None else params, token_level_loss=level,
                      timeout=timeout)
    t.variant = variant
    return t


#: OpenRLHF's names of our parameters (PolicyLoss's constructor)
PARAM_NAMES = {"eps_low": "clip_eps_low", "eps_high": "clip_eps_high", "dual_clip_c": "dual_clip"}
#: the symmetric clip of older PolicyLoss versions (the trainer's ``--actor.eps_clip``, which
#: ``eps_clip_low_high`` falls back to when unset, cli/train_ppo_ray.py:633-634)
SYMMETRIC_NAME = "clip_eps"
#: bounds PolicyLoss takes as separate arguments
BOUNDS = (BoundFields("eps_low", "eps_high", "clip_eps_low", "clip_eps_high", SYMMETRIC_NAME),)


def user_target(obj, *, method=None, params=None, token_level_loss=True, name=None, spec=None, timeout=20.0,
                **options) -> Target:
    """A user's loss in OpenRLHF's shape: a ``PolicyLoss``-like class (constructed with the
    keywords of :data:`PARAM_NAMES` it accepts, ``token_level_loss`` and our parameter names) or a
    function, both called as ``(log_probs, old_log_probs, advantages, action_mask=, dp_size=,
    batch_num_tokens=, global_batch_size=)`` with the keywords it names; the first element of a
    returned tuple is the loss. ``token_level_loss`` (token-mean, else seq-mean-token-mean) is
    swept when the target takes it. ``options``: design choices as for the plain adapter."""
    import inspect

    if method is None:
        raise ValueError("method is required for a user loss (one of: " + ", ".join(methods.names()) + ")")
    m = methods.get(method)
    p = m.resolve_params(params)
    kw_values = {**p, **{PARAM_NAMES[k]: v for k, v in p.items() if k in PARAM_NAMES}, "token_level_loss": token_level_loss}
    if "eps_low" in p:      # the legacy symmetric field (older PolicyLoss(clip_eps)): the lower bound
        kw_values[SYMMETRIC_NAME] = p["eps_low"]
    if inspect.isclass(obj):
        init = set(inspect.signature(obj).parameters)
        fn = obj(**{k: v for k, v in kw_values.items() if k in init})
        named = set(inspect.signature(fn.forward).parameters)
        sweeps_level = "token_level_loss" in init
    else:
        fn, named = obj, set(inspect.signature(obj).parameters)
        sweeps_level = "token_level_loss" in named
        init = named
    counts = {"batch_num_tokens", "global_batch_size"} <= named
    fixed = {k: v for k, v in kw_values.items() if k in named and not inspect.isclass(obj)}

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        kw = dict(fixed)
        if counts:
            kw.update(dp_size=dp_size or 1, batch_num_tokens=num_tokens, global_batch_size=num_seqs)
        out = fn(logp, logp_mu, adv, action_mask=mask.to(logp.dtype), **kw)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out / (dp_size or 1) if counts else out

    if not counts:
        loss.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                for n in ("logp", "logp_mu", "adv", "mask")])
    agg = "token-mean" if token_level_loss else "seq-mean-token-mean"
    conv = plain.conventions(agg=agg, count_empty_rows=token_level_loss, **options)
    spec = spec or plain._spec_of(obj)
    opts = {**options, **({} if token_level_loss else {"token_level_loss": False})}
    t = Target(name or spec or getattr(obj, "__qualname__", repr(obj)), loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "openrlhf", m.name, params, opts) if spec else "",
               timeout=float(timeout), agg_modes=("token-mean", "seq-mean-token-mean") if sweeps_level else (), keep_ties=True,
               split_ties=BOUNDS if init & {"clip_eps_high", "eps_high"} else ())

    def variant(params=None, agg=None):
        level = token_level_loss if agg is None else agg == "token-mean"
        return user_target(obj, method=m.name, params=p if params is None else params, token_level_loss=level,
                           name=t.name, spec=spec, timeout=timeout, **options)
    t.variant = variant
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    if spec.startswith("openrlhf:") or spec in ("ppo", "gspo"):
        kind = spec.split(":", 1)[1] if spec.startswith("openrlhf:") else spec
        return target(kind, method=method, params=params, **options)
    return user_target(plain.resolve(spec), method=method, params=params, spec=spec, **options)
