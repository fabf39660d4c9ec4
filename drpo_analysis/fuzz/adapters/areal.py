"""The AReaL adapter (``areal`` 1.0.4): ``areal/utils/functional/functional.py``, loaded by path.

``areal``'s package ``__init__`` starts its infrastructure (controllers, platforms, hydra
configs); the loss file needs only torch plus two names, shimmed (:mod:`.bypath`):
``areal.api.cli_args.RejectionSamplingConfig`` (a type annotation: the adapter passes a namespace
with its fields) and ``areal.utils.data.KLEstimator`` (used only by the ``kl_k*`` rejection
metrics, which the adapter does not drive; the shim raises if called).

Calls, as AReaL's actor makes them (``areal/trainer/ppo/actor.py``)::

    loss, stat = ppo_actor_loss_fn(logprobs, proximal_logprobs, old_logprobs, advantages,
                                   eps_clip, loss_mask, eps_clip_higher, c_clip,
                                   rejection_sampling, importance_sampling_level)
    loss, stat = sapo_loss_fn(logprobs, old_logprobs, advantages, tau_pos, tau_neg, loss_mask,
                              importance_sampling_level)

Both return the token mean of the micro-batch (``functional.py:483``); the engine scales each
micro-batch by its token count over the step's (``loss_weight_fn = loss_mask.count_nonzero()``,
``trainer/ppo/actor.py:363``; ``loss_scale = local_weight / total_loss_weight``,
``engine/fsdp_engine.py:2120``). The adapter does the same with the fuzzer's ``num_tokens``.

| kind | AReaL call | method | design choices |
|---|---|---|---|
| ppo | ppo_actor_loss_fn, proximal = old = μ | ppo_clip (eps_low ← eps_clip, eps_high ← eps_clip_higher); dual_clip (c_clip) | none: no log-ratio clamp |
| gspo | importance_sampling_level="sequence" | gspo_token: AReaL differentiates through the sequence's geometric-mean ratio s and averages Â per sequence (``functional.py:56``); summed over the sequence's tokens that is −Â·s per token, GSPO-token's gradient when Â is per sequence | — |
| tis | rejection_sampling(level=token, action=clamp, metric=ratio, upper ← clip_max), proximal = sg(π), old = μ | tis_token | value: the PPO term at r = 1 times the weight (not compared) |
| mis | rejection_sampling(level=token, action=mask, metric=ratio, lower ← clip_min, upper ← clip_max), as above | masked_is_token (the weight is r where kept; the token mean keeps the original count, ``functional.py:483``) | value not compared |

| tis_seq | as tis with level=sequence (agg=mean: the sequence's weight and criterion are the geometric mean of its ratios, ``functional.py:345``) | tis_seq_geo | as tis |
| mis_seq | as mis with level=sequence (agg=mean) | masked_is_seq_geo (the kept sequence weighted by its geometric mean) | as mis |

The rollout-correction rows are AReaL's decoupled loss in the setting where rollout correction is all there is:
the proximal policy is the current one (recomputed log-probs, first update of the step), so the
PPO ratio π/π_prox is 1 and the behaviour weight min(π_prox/π_behave, C) is the whole correction.
"""
from __future__ import annotations

from types import SimpleNamespace

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import bypath, plain, reproducer_line
from drpo_analysis.fuzz.targets import Target

DIST, VERSION = "areal", "1.0.4"
KINDS = {"ppo": ("ppo_clip", "dual_clip"), "gspo": ("gspo_token",), "tis": ("tis_token",),
         "mis": ("masked_is_token",), "tis_seq": ("tis_seq_geo",), "mis_seq": ("masked_is_seq_geo",)}
#: rollout-correction kinds -> (rejection_sampling level, action)
REJECTION = {"tis": ("token", "clamp"), "mis": ("token", "mask"), "tis_seq": ("sequence", "clamp"),
             "mis_seq": ("sequence", "mask")}


class _NoKLEstimator:
    @staticmethod
    def _compute_approx_kl(*_, **__):
        raise NotImplementedError("the drpo AReaL adapter drives the ratio metric only")


def loss_module():
    """AReaL's ``functional.py`` (module docstring)."""
    root = bypath.package_root(DIST, "areal", VERSION)
    shims = {"areal.api.cli_args": bypath.shim("areal.api.cli_args", RejectionSamplingConfig=SimpleNamespace),
             "areal.utils.data": bypath.shim("areal.utils.data", KLEstimator=_NoKLEstimator)}
    name = "areal.utils.functional.functional"
    return bypath.load_files("_drpo_areal", root, [(name, "utils/functional/functional.py")], shims)[name]


def target(kind="ppo", *, method=None, params=None, timeout=20.0) -> Target:
    if kind not in KINDS:
        raise ValueError(f"AReaL kind must be one of {', '.join(KINDS)}, got {kind!r}")
    method = method or KINDS[kind][0]
    if method not in KINDS[kind]:
        raise ValueError(f"AReaL {kind!r} implements {KINDS[kind]}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    F = loss_module()

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):   # num_seqs: unused, as in AReaL
        if kind in REJECTION:     # rollout correction alone: proximal = sg(π), old (behaviour) = μ
            level, action = REJECTION[kind]
            rs = SimpleNamespace(level=level, action=action, metric="ratio", agg="mean", upper=p["clip_max"],
                                 lower=p.get("clip_min") or None)
            out, _ = F.ppo_actor_loss_fn(logp, logp.detach(), logp_mu, adv, eps_clip=0.2, loss_mask=mask,
                                         rejection_sampling=rs)
        else:
            out, _ = F.ppo_actor_loss_fn(logp, logp_mu, logp_mu, adv, eps_clip=p["eps_low"], loss_mask=mask,
                                         eps_clip_higher=p["eps_high"], c_clip=p.get("dual_clip_c"),
                                         importance_sampling_level="sequence" if kind == "gspo" else "token")
        # the engine's loss_scale = local token count / step token count (module docstring)
        local = mask.sum()
        return out * (local / num_tokens) if num_tokens and local else out

    conv = plain.conventions(compare_value=kind not in REJECTION)
    spec = f"areal:{kind}"
    t = Target(spec, loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "areal", m.name, params, {}),
               timeout=timeout)
    t.variant = lambda params=None, agg=None: target(kind, method=m.name, params=p if params is None else params,
                                                     timeout=timeout)   # token-mean only
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("areal:") else spec
    return target(kind, method=method, params=params, **options)
