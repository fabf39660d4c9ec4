"""The TRL adapter: ``GRPOTrainer._compute_loss`` driven without a model or a trainer set-up.

The trainer object is created without ``__init__`` and given only the attributes the loss
computation reads; ``_get_per_token_logps_and_entropies`` is replaced by one that returns the
fuzzer's ``logp``. Inputs: ``old_per_token_logps`` = logp_mu, ``advantages`` [B, T],
``completion_mask`` = mask, ``num_items_in_batch`` = global token count.

Translation (our method ← TRL loss type):

| loss_type | method | aggregation (TRL) |
|---|---|---|
| grpo | ppo_clip (eps_low ← epsilon, eps_high ← epsilon_high) | seq-mean-token-mean |
| bnpo | ppo_clip | token-mean over this micro-batch |
| dr_grpo | ppo_clip | seq-mean-token-sum-norm, L_const = max_completion_length |
| dapo | ppo_clip | token-mean over num_items_in_batch (global) |
| cispo | cispo (clip_max ← epsilon_high, an absolute value here) | token-mean, global |
| grpo + ``delta`` | dual_clip (dual_clip_c ← delta, TRL's two-sided clipping) | seq-mean-token-mean |
| grpo + importance_sampling_level="sequence" | gspo_token | seq-mean-token-mean |
| grpo + vllm_importance_sampling_mode=token_truncate | tis_token (clip_max ← vllm_importance_sampling_clip_max, default 3; C_min None = none) | seq-mean-token-mean (dapo: token-mean, dr_grpo as above) |
| grpo + vllm_importance_sampling_mode=token_mask | masked_is_token (clip_min ← vllm_importance_sampling_clip_min, None = 0; clip_max as above) | as above |
| grpo + vllm_importance_sampling_mode=sequence_truncate | tis_seq (R = Π_t r_t over the loss tokens; clip_min, clip_max as above) | as above |
| grpo + vllm_importance_sampling_mode=sequence_mask (TRL's default mode) | masked_is_seq (kept sequences weighted by R; bounds as above) | as above |

vLLM importance sampling (``vllm_is_mode``, :func:`vllm_is_target`): TRL computes the IS weight outside
the loss, in ``_generate_and_score_completions`` (``grpo_trainer.py:2660-2706``), and multiplies it
into the per-token loss in ``_compute_loss`` (``:3147``). The adapter runs both methods: ``_generate``
returns the batch's completions with ℓ_μ as vLLM's sampling logprobs, the old-policy forward returns
sg(ℓ) (old = current, so the PPO ratio is 1 in value and the loss is −w·Â·∂ℓ aggregated), rewards are
zero and the batch's Â replaces the group-normalised advantages (the weights do not read them).
TRL's own handling is what is checked: log-ratios multiplied by the mask, NaN sampling logprobs
zeroed (weight 1, ``:2665``), ``C_min = None`` as no lower bound.

Splits: data-parallel ranks set ``accelerator.num_processes`` (the adapter returns loss / ranks,
DDP's average); micro-batches of the non-global loss types set
``current_gradient_accumulation_steps`` = global rows / micro-batch rows, which is how TRL makes
them add up: exactly for equal-size micro-batches (``per_device_train_batch_size``), so the
aggregation check uses equal-size shards for TRL.
"""
from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import torch

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import plain, reproducer_line
from drpo_analysis.fuzz.targets import BoundFields, Target

DIST, VERSION = "trl", "1.16.0"
LOSS_TYPES = {"grpo": "seq-mean-token-mean", "bnpo": "token-mean", "dr_grpo": "seq-mean-token-sum-norm",
              "dapo": "token-mean", "cispo": "token-mean"}
GLOBAL = ("dapo", "cispo")


class _Accelerator:
    def __init__(self):
        self.num_processes = 1
        self.sync_gradients = True

    def gather(self, t):
        return t

    gather_for_metrics = gather

    def reduce(self, t, reduction="sum"):
        return t


def trainer(loss_type, *, epsilon, epsilon_high, delta=None, level="token", max_completion_length=16):
    """A GRPOTrainer carrying only what ``_compute_loss`` reads."""
    from trl import GRPOTrainer

    tr = GRPOTrainer.__new__(GRPOTrainer)
    args = SimpleNamespace(delta=delta, use_bias_correction_kl=False, steps_per_generation=1)
    for k, v in dict(loss_type=loss_type, epsilon_low=epsilon, epsilon_high=epsilon_high, beta=0.0,
                     importance_sampling_level=level, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
                     use_vllm=False, vllm_importance_sampling_correction=False, model=SimpleNamespace(training=True),
                     current_gradient_accumulation_steps=1, accelerator=_Accelerator(), args=args,
                     max_completion_length=max_completion_length, _entropy_bonus_enabled=False,
                     aux_loss_enabled=False, _metrics={"train": defaultdict(list), "eval": defaultdict(list)}).items():
        object.__setattr__(tr, k, v)
    return tr


def target(loss_type, *, method=None, params=None, delta=None, level="token", max_completion_length=16,
           timeout=20.0, vllm_is_mode=None, **options) -> Target:
    """TRL's GRPO loss of ``loss_type``, or (a callable) a user's loss in TRL's shape (:func:`user_target`);
    with ``vllm_is_mode``, the loss after TRL's vLLM importance sampling (:func:`vllm_is_target`)."""
    if callable(loss_type):
        return user_target(loss_type, method=method, params=params, max_completion_length=max_completion_length,
                           timeout=timeout, **options)
    if vllm_is_mode is not None:
        extra = [*(["delta"] if delta is not None else []), *(["level"] if level != "token" else []), *options]
        if extra:
            raise ValueError(f"vllm_is_mode takes no {', '.join(extra)}: it is checked at importance_sampling_level="
                             f"'token' without delta (the PPO ratio is 1 there), aggregated as the loss type says "
                             f"(trl:grpo, trl:dapo, trl:dr_grpo)")
        return vllm_is_target(vllm_is_mode, loss_type=loss_type, method=method, params=params,
                              max_completion_length=max_completion_length, timeout=timeout)
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"TRL loss type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")
    default = ("cispo" if loss_type == "cispo" else "gspo_token" if level == "sequence"
               else "dual_clip" if delta is not None else "ppo_clip")
    method = method or default
    if method != default:
        raise ValueError(f"TRL {loss_type!r} (delta={delta}, level={level}) implements {default!r}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    if method == "cispo":
        eps, eps_high = 0.2, p["clip_max"]
    else:
        eps, eps_high = p["eps_low"], p["eps_high"]
    if method == "dual_clip":
        delta = p["dual_clip_c"]
    tr = trainer(loss_type, epsilon=eps, epsilon_high=eps_high, delta=delta, level=level,
                 max_completion_length=max_completion_length)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        B, T = logp.shape
        tr.accelerator.num_processes = dp_size or 1
        # micro-batches: TRL divides by gradient_accumulation_steps (equal-size micro-batches)
        split = num_seqs is not None and not dp_size and loss_type not in GLOBAL and B
        object.__setattr__(tr, "current_gradient_accumulation_steps", num_seqs / B if split else 1)
        tr._get_per_token_logps_and_entropies = lambda *a, **k: (logp, torch.zeros_like(logp.detach()), None)
        n_items = mask.sum() if num_tokens is None else torch.tensor(float(num_tokens))
        inputs = {"prompt_ids": torch.zeros((B, 0), dtype=torch.long), "prompt_mask": torch.zeros((B, 0), dtype=torch.long),
                  "completion_ids": torch.zeros((B, T), dtype=torch.long), "completion_mask": mask.long(),
                  "advantages": adv, "old_per_token_logps": logp_mu, "num_items_in_batch": n_items}
        return tr._compute_loss(None, inputs) / (dp_size or 1)

    agg = LOSS_TYPES[loss_type]
    conv = plain.conventions(agg=agg, horizon=max_completion_length if agg == "seq-mean-token-sum-norm" else None)
    options = {k: v for k, v in (("delta", delta if method != "dual_clip" else None),
                                 ("level", level if level != "token" else None)) if v is not None}
    spec = f"trl:{loss_type}"
    return Target(spec, loss, m.name, p, conv, call_params={},
                  reproducer=reproducer_line(spec, "trl", m.name, params, options),
                  timeout=timeout, notes=(f"agg={agg}",), equal_splits=True)


#: vllm_importance_sampling_mode -> the registry reference (with old = current policy)
VLLM_IS = {"token_truncate": "tis_token", "token_mask": "masked_is_token", "sequence_truncate": "tis_seq",
           "sequence_mask": "masked_is_seq"}
#: the loss type an IS target is told for each aggregation mode (dapo: the global token count)
VLLM_IS_LOSS_TYPES = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}
#: GRPOConfig.vllm_importance_sampling_clip_max's default
VLLM_IS_CLIP_MAX = 3.0


def vllm_is_trainer(mode, *, loss_type, clip_min, clip_max, max_completion_length):
    """A GRPOTrainer carrying what ``_generate_and_score_completions`` and ``_compute_loss`` read, with
    vLLM importance sampling on (``use_vllm``; ``_generate`` is set per call by :func:`scored_inputs`)."""
    tr = trainer(loss_type, epsilon=0.2, epsilon_high=0.28, max_completion_length=max_completion_length)
    tr.accelerator.device, tr.accelerator.process_index = torch.device("cpu"), 0
    tr.model.is_gradient_checkpointing = False
    tr.args.gradient_checkpointing_kwargs, tr.args.gradient_accumulation_steps = None, 1
    for k, v in dict(use_vllm=True, vllm_importance_sampling_correction=True, vllm_importance_sampling_mode=mode,
                     vllm_importance_sampling_clip_min=clip_min, vllm_importance_sampling_clip_max=clip_max,
                     environment_factories=None, tools=None, environments=None, pad_to_multiple_of=None,
                     _tokenizer=SimpleNamespace(pad_token_id=0), mask_truncated_completions=False, num_iterations=1,
                     num_generations=1, multi_objective_aggregation="sum_then_normalize", scale_rewards="group",
                     reward_weights=torch.ones(1), reward_func_names=["fuzz"], log_multimodal=False,
                     _pending_extra_logs={}, _pending_metrics={},
                     _logs={"prompt": [], "completion": [], "rewards": defaultdict(list), "advantages": [],
                            "extra": defaultdict(list), "images": []}).items():
        object.__setattr__(tr, k, v)
    return tr


def _completion_lengths(mask) -> list[int]:
    """Each row's completion runs to its last loss token (at least one token, as vLLM returns)."""
    return [int(m.nonzero().max()) + 1 if m.any() else 1 for m in mask]


def _vllm_rollout(logp_mu, mask):
    """What ``GRPOTrainer._generate`` returns for the batch, as vLLM would: row b's completion
    (:func:`_completion_lengths`), ``logprobs`` are ℓ_μ there (None where NaN, as TRL's
    ``extract_logprobs`` reports them); masked tokens inside a completion are tool tokens (``tool_mask``
    0), passed only when some row has one."""
    rows = _completion_lengths(mask)
    tool_mask = [m[:n].long().tolist() for m, n in zip(mask, rows)]
    logprobs = [[None if math.isnan(x) else x for x in lm[:n].tolist()] for lm, n in zip(logp_mu, rows)]
    B = len(rows)
    holes = any(0 in tm for tm in tool_mask)
    return ([[0]] * B, [[1] * n for n in rows], tool_mask if holes else None, [""] * B, logprobs, {}, None,
            [None] * B)


def scored_inputs(tr, logp, logp_mu, mask) -> dict:
    """``tr._generate_and_score_completions`` on the batch (:func:`vllm_is_target`): the inputs
    ``_compute_loss`` receives, ``importance_sampling_ratio`` among them, as TRL computes them."""
    B = logp.shape[0]
    object.__setattr__(tr, "_generate", lambda prompts: _vllm_rollout(logp_mu.detach(), mask))
    object.__setattr__(tr, "_calculate_rewards", lambda *a: torch.zeros(B, 1))     # [B, reward functions]
    tr.args.per_device_train_batch_size = B
    W = max(_completion_lengths(mask), default=0)            # the padded completion width
    # the old-policy forward (under no_grad) gets sg(ℓ), the training forward ℓ  [B, W]
    tr._get_per_token_logps_and_entropies = lambda *a, **k: (
        (logp if torch.is_grad_enabled() else logp.detach())[:, :W], torch.zeros_like(logp.detach()[:, :W]), None)
    return tr._generate_and_score_completions([{"prompt": ""} for _ in range(B)])


def vllm_is_target(mode, *, loss_type="grpo", method=None, params=None, max_completion_length=16,
                   timeout=20.0) -> Target:
    """TRL's vLLM importance sampling (``vllm_importance_sampling_mode``), run as TRL runs it.

    Each call drives ``GRPOTrainer._generate_and_score_completions`` on the stub trainer: ``_generate``
    returns the batch's completions with ℓ_μ as vLLM's sampling logprobs (:func:`_vllm_rollout`), the
    old-policy forward returns sg(ℓ) (old = current: the PPO ratio is 1 in value, so the loss is the IS
    weight times the policy gradient), and rewards are zero. The method's output (``importance_sampling_ratio``,
    ``completion_mask``, ``tool_mask``, ``old_per_token_logps``) then goes to ``_compute_loss`` with the batch's
    advantages in place of the group-normalised ones (the weights do not read them) and, for dapo, the
    global token count as ``num_items_in_batch``."""
    if mode not in VLLM_IS:
        raise ValueError(f"vllm_is_mode must be one of {', '.join(VLLM_IS)}, got {mode!r}")
    if loss_type not in VLLM_IS_LOSS_TYPES.values():
        raise ValueError(f"vllm_is_mode is checked with loss_type {', '.join(VLLM_IS_LOSS_TYPES.values())} "
                         f"(one per aggregation mode, the PPO ratio clipped), got {loss_type!r}")
    default = VLLM_IS[mode]
    method = method or default
    if method != default:
        raise ValueError(f"TRL vllm_importance_sampling_mode={mode!r} implements {default!r}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params({"clip_max": VLLM_IS_CLIP_MAX, **(params or {})})
    # TRL's C_min = None (the default) is no lower bound: clamp(min=None) for truncation
    # (grpo_trainer.py:2681), -inf for masks (:2688); the reference's C_min = 0 (no ratio is negative)
    clip_min = p.get("clip_min") or None
    tr = vllm_is_trainer(mode, loss_type=loss_type, clip_min=clip_min, clip_max=p["clip_max"],
                          max_completion_length=max_completion_length)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        B = logp.shape[0]
        tr.accelerator.num_processes = dp_size or 1
        split = num_seqs is not None and not dp_size and loss_type not in GLOBAL and B
        object.__setattr__(tr, "current_gradient_accumulation_steps", num_seqs / B if split else 1)
        inputs = scored_inputs(tr, logp, logp_mu, mask)
        inputs["advantages"] = adv[:, :inputs["completion_ids"].shape[1]]
        if num_tokens is not None:
            inputs["num_items_in_batch"] = torch.tensor(float(num_tokens))
        return tr._compute_loss(None, inputs) / (dp_size or 1)

    agg = next(a for a, lt in VLLM_IS_LOSS_TYPES.items() if lt == loss_type)
    conv = plain.conventions(agg=agg, horizon=max_completion_length if agg == "seq-mean-token-sum-norm" else None)
    spec = f"trl:{loss_type}"
    t = Target(spec, loss, m.name, p, conv, call_params={}, timeout=timeout, equal_splits=True,
               reproducer=reproducer_line(spec, "trl", m.name, params, {"vllm_is_mode": mode}),
               notes=(f"agg={agg}", f"vllm_importance_sampling_mode={mode}"), agg_modes=tuple(VLLM_IS_LOSS_TYPES))
    t.variant = lambda params=None, agg=None: vllm_is_target(
        mode, loss_type=VLLM_IS_LOSS_TYPES[agg] if agg else loss_type, method=m.name,
        params=p if params is None else params, max_completion_length=max_completion_length, timeout=timeout)
    return t


#: TRL's names of our parameters (GRPOConfig)
PARAM_NAMES = {"eps_low": ("epsilon_low", "epsilon"), "eps_high": ("epsilon_high",), "dual_clip_c": ("delta",),
               "clip_max": ("epsilon_high",)}
#: bounds GRPOConfig carries in separate fields: ``epsilon`` (the lower bound, the trainer's
#: ``epsilon_low``) and ``epsilon_high``, which falls back to ``epsilon`` when unset (grpo_trainer.py:945-946)
BOUNDS = (BoundFields("eps_low", "eps_high", "epsilon_low", "epsilon_high", "epsilon"),)
#: the TRL loss type a user function is told for each aggregation mode (without / with global count)
AGG_LOSS_TYPES = {"seq-mean-token-mean": "grpo", "token-mean": "bnpo", "seq-mean-token-sum-norm": "dr_grpo"}
#: loss types that name the method itself (and with it the aggregation: token-mean over the global count)
METHOD_LOSS_TYPES = {"cispo": "cispo"}


def user_target(fn, *, method=None, params=None, agg="seq-mean-token-mean", max_completion_length=16, name=None,
                spec=None, timeout=20.0, **options) -> Target:
    """A user's loss in TRL's shape::

        loss[, metrics] = fn(per_token_logps, old_per_token_logps, advantages, completion_mask, ...)

    ``advantages`` [B] (one per completion, as TRL passes them), ``completion_mask`` [B, T] int;
    keywords it names among ``loss_type`` (the mode: grpo, bnpo / dapo with num_items_in_batch,
    dr_grpo), ``epsilon_low`` / ``epsilon`` / ``epsilon_high`` / ``delta`` (our parameters),
    ``max_completion_length`` (L_const of dr_grpo), ``num_items_in_batch`` (global token count),
    and ``args`` / ``config`` (a namespace with all of those). ``loss_type`` is swept if named,
    except where it names the method (``cispo``: :data:`METHOD_LOSS_TYPES`)."""
    import inspect
    from types import SimpleNamespace

    if method is None:
        raise ValueError("method is required for a user loss (one of: " + ", ".join(methods.names()) + ")")
    m = methods.get(method)
    p = m.resolve_params(params)
    named = set(inspect.signature(fn).parameters)
    own_type = METHOD_LOSS_TYPES.get(m.name) if "loss_type" in named else None
    if own_type:                        # TRL's cispo: the method and token-mean over num_items_in_batch
        agg = "token-mean"
    global_count = "num_items_in_batch" in named and agg == "token-mean"
    loss_type = own_type or ("dapo" if global_count else AGG_LOSS_TYPES[agg])
    values = {"loss_type": loss_type, "max_completion_length": max_completion_length, **p}
    for ours, theirs in PARAM_NAMES.items():
        if ours in p:
            values.update({t_: p[ours] for t_ in theirs})
    if "eps_low" in p and "epsilon" not in values:
        values["epsilon"] = p["eps_low"]
    cfg = SimpleNamespace(**values)
    kw = {k: v for k, v in values.items() if k in named}
    kw.update({k: cfg for k in ("args", "config") if k in named})

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        extra = {"num_items_in_batch": torch.tensor(float(num_tokens if num_tokens is not None else mask.sum()))} \
            if "num_items_in_batch" in named else {}
        return fn(logp, logp_mu, adv[:, 0] if adv.shape[-1] else adv.sum(-1), mask.long(), **kw, **extra)

    if not global_count:
        loss.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                for n in ("logp", "logp_mu", "adv", "mask")])
    conv = plain.conventions(agg=agg, horizon=max_completion_length if agg == "seq-mean-token-sum-norm" else None,
                             **options)
    spec = spec or plain._spec_of(fn)
    opts = {**options, **({} if agg == "seq-mean-token-mean" else {"agg": agg})}
    t = Target(name or spec or getattr(fn, "__qualname__", repr(fn)), loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "trl", m.name, params, opts) if spec else "",
               timeout=float(timeout), agg_modes=tuple(AGG_LOSS_TYPES) if "loss_type" in named and not own_type else (),
               adv_per_sequence=True, keep_ties=True,
               split_ties=BOUNDS if named & {"epsilon_high", "eps_high", "args", "config"} else (),
               fixed=frozenset(k for k in p if k not in PARAM_NAMES and k not in named))   # e.g. CISPO's clip_min

    def variant(params=None, agg=None):
        return user_target(fn, method=m.name, params=p if params is None else params,
                           agg=conv.agg if agg is None else agg, max_completion_length=max_completion_length,
                           name=t.name, spec=spec, timeout=timeout, **options)
    t.variant = variant
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    if spec.startswith("trl:") or spec in LOSS_TYPES:
        loss_type = spec.split(":", 1)[1] if spec.startswith("trl:") else spec
        return target(loss_type, method=method, params=params, **options)
    return user_target(plain.resolve(spec), method=method, params=params, spec=spec, **options)
