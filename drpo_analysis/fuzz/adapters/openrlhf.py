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
from drpo_analysis.fuzz.targets import Target

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


def target(kind="ppo", *, method=None, params=None, token_level_loss=True, timeout=20.0) -> Target:
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
    return Target(spec, loss, m.name, p, conv, call_params={},
                  reproducer=reproducer_line(spec, "openrlhf", m.name, params, options),
                  timeout=timeout)


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("openrlhf:") else spec
    return target(kind, method=method, params=params, **options)
