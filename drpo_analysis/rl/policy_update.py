"""One policy-gradient update's loss and per-token gradient weights, shared by every GRPO loop
(the tiny-transformer trainer and the Hugging Face model path).

The per-token gradient weight ``w`` of DRPO's Table 1 convention (``∂J/∂ℓ = Â r w``) is read off
autograd: the loss is computed on a leaf copy of ``ℓ``, its gradient ``g = −a Â r w`` (``a`` the
aggregation weight) is what the caller back-propagates into the model, and ``w = −g / (a Â r)``
feeds the masked / attenuated / amplified / reversed fractions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from drpo_analysis.core import aggregation
from drpo_analysis.core.losses_torch import policy_loss
from drpo_analysis.core.methods.base import BatchInputs, build_extras


def method_extras(method, leaf, anchor, mask, logp_all, *, topk_ids=None, topk_logp_mu=None) -> dict:
    """The method's extra inputs (Top-K sets, GSPO sequence ratio), each from the registry's own
    builder; the Top-K columns of log π are read at the rollout's top-K(μ) ids.

    leaf, anchor, mask: [b, A]; logp_all: [b, A, V] float32 log π over the vocabulary;
    topk_ids, topk_logp_mu: [b, A, K] top-K(μ) ∪ {sampled} recorded by the sampler.
    """
    topk = "topk_logp" in method.batch_fields
    batch = BatchInputs(leaf.detach(), anchor, mask, topk_logp_mu if topk else None,
                        logp_all.detach().gather(-1, topk_ids) if topk else None)
    return build_extras(method, batch)


def aggregation_kwargs(agg: str, *, horizon: int, group_ids) -> dict:
    """The extra arguments ``agg`` takes: the horizon (``seq-mean-token-sum-norm``, Dr. GRPO's
    constant) or the rows' prompt-group ids [b] (``prompt-mean``)."""
    if agg == "seq-mean-token-sum-norm":
        return {"horizon": horizon}
    if agg == "prompt-mean":
        return {"group_ids": torch.as_tensor(group_ids)}
    return {}


def needs_topk(method) -> bool:
    """Whether the sampler must record top-K(μ) for ``method``'s extras."""
    return "topk_logp_mu" in method.batch_fields


@dataclass
class Update:
    loss: torch.Tensor   # scalar
    grad: torch.Tensor   # [b, A] ∂loss/∂ℓ, zero on padding: back-propagate it into ℓ
    weight: torch.Tensor  # [b, A] w (0 where a Â r = 0)
    finite: bool


def loss_and_weights(method, logp, anchor, adv, mask, *, agg, params, extras_kw, agg_kw) -> Update:
    """The aggregated loss of ``method`` at ``logp`` [b, A] (anchored on ``anchor`` [b, A], e.g.
    log μ), its gradient w.r.t. ``logp`` and the gradient weights ``w``; ``logp`` is not touched
    by autograd (the caller runs ``logp.backward(update.grad)``)."""
    leaf = logp.detach().requires_grad_()
    extras = method_extras(method, leaf, anchor, mask, **extras_kw)
    loss = policy_loss(method, leaf, anchor, adv, mask, agg=agg, params=params, extras=extras, **agg_kw)
    (g,) = torch.autograd.grad(loss, leaf)  # [b, A] = −a Â r w
    finite = bool(torch.isfinite(loss)) and bool(torch.isfinite(g).all())
    with torch.no_grad():
        a = aggregation.aggregation_weights(mask, agg, **agg_kw).to(g.dtype)
        r = (leaf - anchor).clamp(-80, 80).exp()
        denom = a * adv * r
        w = torch.where(denom != 0, -g / torch.where(denom != 0, denom, torch.ones_like(denom)),
                        torch.zeros_like(g))
    return Update(loss.detach(), torch.where(mask, g, torch.zeros_like(g)), w, finite)
