"""The torchtune adapter (``torchtune`` 0.6.1): ``torchtune/rlhf/loss/ppo.py``'s ``PPOLoss``, loaded
by path.

``torchtune``'s package ``__init__`` imports its datasets, models and torchao; ``ppo.py`` needs
only ``torchtune.rlhf.masked_mean``, which is loaded from its own file
(``torchtune/rlhf/rewards.py``) under that name (:mod:`.bypath`).

``PPOLoss(epsilon, value_clip_range, value_coeff).forward(pi_old_logprobs, pi_logprobs,
advantages, phi_old_values, phi_values, returns, padding_masks, value_padding_masks)`` returns
``(loss, policy_loss, value_loss, ratios, clipfrac)``; ``policy_loss`` is detached, so the adapter
differentiates ``loss`` with ``value_coeff = 0`` (the value terms then add 0·finite).

| method | params | aggregation | design choices |
|---|---|---|---|
| ppo_clip | eps_low = eps_high = epsilon (one symmetric range, ``ppo.py:27``) | token-mean of the micro-batch: ``masked_mean`` divides by ``mask.sum() + 1e-8`` (``rewards.py:97``) | none: no log-ratio clamp |

Micro-batches: torchtune's PPO recipe divides each micro-batch's loss by
``gradient_accumulation_steps`` (``recipes/ppo_full_finetune_single_device.py:1118``), micro-batches
of ``ppo_batch_size // gradient_accumulation_steps`` rows (``:390``); the adapter does the same
(steps = the step's rows / this micro-batch's rows, given ``num_seqs``), with equal-size shards.
"""
from __future__ import annotations


import torch

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import bypath, plain, reproducer_line
from drpo_analysis.fuzz.targets import Target

DIST, VERSION = "torchtune", "0.6.1"


def loss_module():
    """torchtune's ``rlhf/loss/ppo.py`` (module docstring)."""
    root = bypath.package_root(DIST, "torchtune", VERSION)
    rewards = bypath.load_files("_drpo_torchtune", root, [("torchtune.rlhf.rewards", "rlhf/rewards.py")])
    rlhf = bypath.shim("torchtune.rlhf", masked_mean=rewards["torchtune.rlhf.rewards"].masked_mean)
    top = bypath.shim("torchtune", rlhf=rlhf)
    name = "torchtune.rlhf.loss.ppo"
    return bypath.load_files("_drpo_torchtune", root, [(name, "rlhf/loss/ppo.py")],
                             {"torchtune": top, "torchtune.rlhf": rlhf})[name]


def target(kind="ppo", *, method=None, params=None, timeout=20.0) -> Target:
    if kind != "ppo" or (method or "ppo_clip") != "ppo_clip":
        raise ValueError(f"torchtune ships PPOLoss (ppo_clip) only, got {kind!r} / {method!r}")
    m = methods.get("ppo_clip")
    p = m.resolve_params(params)
    if p["eps_low"] != p["eps_high"]:
        raise ValueError("torchtune's PPOLoss has one symmetric epsilon: give eps_low = eps_high")
    pl = loss_module().PPOLoss(epsilon=p["eps_low"], value_coeff=0.0)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):   # num_tokens: unused, as in torchtune
        zeros = torch.zeros_like(logp.detach())
        out = pl(logp_mu, logp, adv, zeros, zeros, zeros, padding_masks=mask, value_padding_masks=mask)[0]
        steps = num_seqs / logp.shape[0] if num_seqs and logp.shape[0] else 1   # gradient_accumulation_steps
        return out / steps

    spec = "torchtune:ppo"
    t = Target(spec, loss, m.name, p, plain.conventions(), call_params={},
               reproducer=reproducer_line(spec, "torchtune", m.name, params, {}), timeout=timeout,
               equal_splits=True)

    def variant(params=None, agg=None):   # one epsilon: a drawn pair is made symmetric on eps_low
        eps = (params or p)["eps_low"]
        return target(params={"eps_low": eps, "eps_high": eps}, timeout=timeout)
    t.variant = variant
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("torchtune:") else spec
    return target(kind, method=method, params=params, **options)
