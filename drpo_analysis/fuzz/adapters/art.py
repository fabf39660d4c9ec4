"""The ART adapter (``openpipe-art`` 0.5.18, OpenPipe's Agent Reinforcement Trainer): ``art/loss.py``'s
``loss_fn``, loaded by path.

``art``'s package ``__init__`` imports its model, backend and server stacks; ``loss.py`` needs
torch, pydantic, ``art/utils/group_aggregate.py`` (loaded from its file) and ``art.dev.TrainConfig``
(a TypedDict: shimmed as ``dict``, the adapter passes a plain dict) (:mod:`.bypath`).

``loss_fn(inputs, new_logprobs, ref_logprobs, entropies, experimental_config)`` reads *unshifted*
packed inputs and shifts them by one position itself (``shift_tensor``: drop the first column, pad
the last): the adapter prepends one column to ``logprobs``/``advantages``/``assistant_mask``/
``weights``/``group_ids`` and appends one to ``new_logprobs``, so that token t of the fuzzer's batch
is token t after the shift. One sequence per row (``group_ids`` = 1 on its tokens), ``weights`` = 1.
The loss is the token mean of the call (``denominator = assistant_mask.sum() + 1e-6``,
``loss.py:129``); ART's trainer-level accumulation is not modelled, so the split checks do not run.

| kind | experimental_config | method |
|---|---|---|
| cispo | default (``ppo`` False: ``clip(sg(r), 1 − epsilon, 1 + epsilon_high)·Â·ℓ``, epsilon 1, epsilon_high 4, ``loss.py:77``) | cispo (clip_min = 1 − epsilon, clip_max = 1 + epsilon_high); value is the surrogate |
| ppo | ``ppo`` True (epsilon 0.2) | ppo_clip (eps_low ← epsilon, eps_high ← epsilon_high) |
| gspo | ``ppo`` True, importance_sampling_level="sequence" (the ratio of the sequence's mean log-ratio, gradient through the mean) | gspo_token (per-sequence Â, token-mean: −Â·s per token) |
| mis | default + ``mask_prob_ratio`` (ratio zeroed outside (1 − epsilon, 1 + epsilon_high), ``loss.py:89``), epsilon 1 | masked_is_token (clip_min = 0, clip_max = 1 + epsilon_high); value not compared |
"""
from __future__ import annotations

import warnings

import torch

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import bypath, plain, reproducer_line
from drpo_analysis.fuzz.targets import Target

DIST, VERSION = "openpipe-art", "0.5.18"
KINDS = {"cispo": "cispo", "ppo": "ppo_clip", "gspo": "gspo_token", "mis": "masked_is_token"}


def loss_module():
    """ART's ``loss.py`` (module docstring)."""
    root = bypath.package_root(DIST, "art", VERSION)
    files = [("art.utils.group_aggregate", "utils/group_aggregate.py"), ("art.loss", "loss.py")]
    # probs_corr (a logged statistic) warns on a one-token batch
    warnings.filterwarnings("ignore", message=r"cov\(\): degrees of freedom", category=UserWarning)
    return bypath.load_files("_drpo_art", root, files, {"art.dev": bypath.shim("art.dev", TrainConfig=dict)})["art.loss"]


def config(kind: str, p: dict) -> dict:
    """ART's ``experimental_config`` for our parameters (module docstring)."""
    if kind == "cispo":
        return {"epsilon": 1.0 - p["clip_min"], "epsilon_high": p["clip_max"] - 1.0}
    if kind == "mis":
        return {"epsilon": 1.0, "epsilon_high": p["clip_max"] - 1.0, "mask_prob_ratio": True}
    return {"ppo": True, "epsilon": p["eps_low"], "epsilon_high": p["eps_high"],
            "importance_sampling_level": "sequence" if kind == "gspo" else "token"}


def _unshifted(x, first):
    """``x`` [B, T] with one column prepended, so that ART's shift returns ``x`` (padded at the end)."""
    return torch.cat([torch.full_like(x[:, :1], first), x], dim=1)     # [B, T + 1]


def target(kind="cispo", *, method=None, params=None, timeout=20.0) -> Target:
    if kind not in KINDS:
        raise ValueError(f"ART kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if (method or KINDS[kind]) != KINDS[kind]:
        raise ValueError(f"ART {kind!r} implements {KINDS[kind]!r}, not {method!r}")
    m = methods.get(KINDS[kind])
    p = m.resolve_params(params)
    if kind == "mis":      # epsilon = 1: a masked ratio 0 stays 0 after the clip to [1 − epsilon, ...]
        p["clip_min"] = 0.0
    F, cfg = loss_module(), config(kind, p)

    def loss(logp, logp_mu, adv, mask):
        inputs = {"logprobs": _unshifted(logp_mu, float("nan")), "advantages": _unshifted(adv, 0.0),
                  "assistant_mask": _unshifted(mask, False), "weights": _unshifted(mask.to(logp.dtype), 0.0),
                  "group_ids": _unshifted(mask.long(), 0)}
        new = torch.cat([logp, torch.zeros_like(logp[:, :1])], dim=1)                # [B, T + 1]
        return F.loss_fn(inputs, new, None, None, dict(cfg)).policy_loss

    spec = f"art:{kind}"
    t = Target(spec, loss, m.name, p, plain.conventions(compare_value=kind in ("ppo", "gspo")), call_params={},
               reproducer=reproducer_line(spec, "art", m.name, params, {}), timeout=timeout)
    t.variant = lambda params=None, agg=None: target(kind, params=p if params is None else params, timeout=timeout)
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("art:") else spec
    return target(kind, method=method, params=params, **options)
