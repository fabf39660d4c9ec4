"""The ms-swift adapter (``ms-swift`` 4.6.0): the GRPO loss of
``swift/rlhf_trainers/grpo_trainer.py``, ``GRPOTrainer._compute_loss_and_metrics``, run as written.

The loss is a method of a trainer whose module imports vLLM, TRL, accelerate and most of ``swift``
at load time, so the module cannot be imported here. The adapter parses the installed file and
compiles only the methods the loss runs (:data:`METHODS`, and the module constant
``WINDOW_NORMALIZED_LOSS_TYPES``) with the file's name and line numbers, into a namespace where the
distributed helpers are single-process identities (``gather``, ``gather_object``,
``accelerator.gather_for_metrics``) and TRL's ``nanmax``/``nanmin`` are TRL's own. The trainer
is a plain object carrying the attributes the method reads (:func:`trainer`);
``_get_per_token_logps_and_entropies`` returns the fuzzer's ``logp``.

Translation (our method ← ms-swift ``loss_type``; ``advantages`` [B, T] are per token):

| loss_type | method | aggregation (ms-swift, ``grpo_trainer.py:1082``) |
|---|---|---|
| grpo | ppo_clip (epsilon_low/high) | seq-mean-token-mean |
| bnpo | ppo_clip | token-mean over this micro-batch |
| dr_grpo | ppo_clip | seq-mean-token-sum-norm, L_const = max_completion_length |
| dapo | ppo_clip | token-mean over ``num_items_in_batch`` (the accumulation window), compensated for the Trainer's division (``:1228``) |
| cispo | cispo (clip_max ← epsilon_high, an absolute value; no lower clamp) | as dapo; value is the surrogate |
| grpo + ``delta`` | dual_clip (ratio clamped at delta before the min, ``:1053``) | seq-mean-token-mean |
| grpo, importance_sampling_level=sequence / sequence_token | gspo_token (per-sequence Â) | seq-mean-token-mean |
| grpo + rollout_importance_sampling_mode=token_truncate, old = current | tis_token (clip_max ← threshold) | seq-mean-token-mean; log-ratio clamped ±20 (``:2362``) |
| grpo + rollout_importance_sampling_mode=token_mask, old = current | masked_is_token (clip_min = 0, clip_max ← threshold; the weight is r where kept, ``:2374``) | as above |
| grpo + rollout_importance_sampling_mode=sequence_truncate, old = current | tis_seq_geo (the geometric mean of the token ratios, ``_compute_sequence_level_ratios`` ``:2328``, truncated from above at threshold ``:2379``) | as above, every token's log-ratio clamped ±20 inside the mean (``statistics_clamp``) |
| grpo + rollout_importance_sampling_mode=sequence_mask, old = current | geo_seq_mask (token ratios ``is_ratio * seq_mask``, sequences with geometric mean > threshold masked, ``:2386``) | as above; the kept token's weight min(r, e^20) (``is_truncation``) |

Micro-batches: the Trainer divides each loss by ``current_gradient_accumulation_steps``; for the
window-normalised types the method multiplies it back (``_undo_gradient_accumulation_scaling``).
The adapter returns the loss after the Trainer's division (steps = step rows / micro-batch rows,
equal-size micro-batches, as ``per_device_train_batch_size`` makes them).
"""
from __future__ import annotations

import ast
import math
import typing
from collections import defaultdict
from types import SimpleNamespace

import torch

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import bypath, plain, reproducer_line
from drpo_analysis.fuzz.targets import Target

DIST, VERSION = "ms-swift", "4.6.0"
SAFETY_BOUND = 20.0     # ms-swift's clamp of each token's rollout log-ratio (grpo_trainer.py:2362)
FILE = "rlhf_trainers/grpo_trainer.py"
METHODS = ("_compute_loss_and_metrics", "_undo_gradient_accumulation_scaling", "_get_rollout_is_correction",
           "_apply_rollout_importance_sampling", "_compute_sequence_level_ratios",
           "_compute_rollout_offpolicy_metrics", "_compute_is_correction_metrics")
#: loss_type -> aggregation of the reference
LOSS_TYPES = {"grpo": "seq-mean-token-mean", "bnpo": "token-mean", "dr_grpo": "seq-mean-token-sum-norm",
              "dapo": "token-mean", "cispo": "token-mean"}
WINDOW = ("dapo", "cispo")
_cache: dict = {}


def _unavailable(name):
    def fn(*_, **__):
        raise NotImplementedError(f"{name} is not run by the drpo ms-swift adapter")
    return fn


def loss_methods() -> dict:
    """{name: function} of :data:`METHODS`, compiled from the installed ``grpo_trainer.py``."""
    if _cache:
        return _cache
    path = bypath.package_root(DIST, "swift", VERSION) / FILE
    tree = ast.parse(path.read_text(), filename=str(path))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GRPOTrainer")
    body = [n for n in tree.body if isinstance(n, ast.Assign)
            and any(getattr(t, "id", "") == "WINDOW_NORMALIZED_LOSS_TYPES" for t in n.targets)]
    body += [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in METHODS]
    missing = set(METHODS) - {n.name for n in body if isinstance(n, ast.FunctionDef)}
    if missing:
        raise ImportError(f"ms-swift {bypath.installed_version(DIST)}: GRPOTrainer lacks {sorted(missing)}")
    from trl.trainer.grpo_trainer import nanmax, nanmin

    ns = {"torch": torch, "nanmax": nanmax, "nanmin": nanmin, "gather": lambda t: t,
          "gather_object": lambda objs: list(objs), "logger": SimpleNamespace(info=lambda *a, **k: None),
          "GRPOBatch": object, "compute_chord_loss": _unavailable("compute_chord_loss"),
          "compute_sdar_loss": _unavailable("compute_sdar_loss"),
          **{k: getattr(typing, k) for k in ("Any", "Dict", "List", "Optional", "Tuple", "Union")}}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), ns)   # noqa: S102 - the pinned file
    _cache.update({k: ns[k] for k in METHODS})
    return _cache


class _Accelerator:
    num_processes = 1

    @staticmethod
    def gather_for_metrics(t):
        return t


def trainer(loss_type, *, epsilon, epsilon_high, delta=None, level="token", rollout_mode=None, threshold=2.0,
            tau_pos=1.0, tau_neg=1.05, max_completion_length=16):
    """A plain object with ms-swift's loss methods and the attributes they read."""
    cls = type("SwiftGRPOLoss", (), dict(loss_methods()))
    tr = cls()
    tr.__dict__.update(
        model=SimpleNamespace(training=True), compute_entropy=False, overlong_filter=False, beta=0.0,
        kl_in_reward=False, args=SimpleNamespace(log_entropy=False, top_entropy_quantile=1.0, delta=delta,
                                                 gradient_accumulation_steps=1),
        rollout_importance_sampling_mode=rollout_mode, rollout_importance_sampling_threshold=threshold,
        log_rollout_offpolicy_metrics=False, disable_rollout_importance_sampling=False,
        importance_sampling_level=level, _has_teacher=False, loss_type=loss_type, epsilon_low=epsilon,
        epsilon_high=epsilon_high, tau_pos=tau_pos, tau_neg=tau_neg, off_policy_sequence_mask_delta=None,
        max_completion_length=max_completion_length, accelerator=_Accelerator(), model_accepts_loss_kwargs=False,
        compute_loss_func=None, current_gradient_accumulation_steps=1, sdar_loss_coef=0.0,
        chord_sft_iterator=None, _metrics={"train": defaultdict(list)})
    return tr


ROLLOUT = {"token_truncate": "tis_token", "token_mask": "masked_is_token", "sequence_truncate": "tis_seq_geo",
           "sequence_mask": "geo_seq_mask"}


def target(loss_type="grpo", *, method=None, params=None, delta=None, level="token", rollout_mode=None,
           max_completion_length=16, timeout=20.0) -> Target:
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"ms-swift loss_type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")
    if method == "dual_clip" and delta is None:
        delta = methods.get("dual_clip").resolve_params(params)["dual_clip_c"]
    default = ("cispo" if loss_type == "cispo" else ROLLOUT.get(rollout_mode) if rollout_mode else
               "gspo_token" if level != "token" else "dual_clip" if delta is not None else "ppo_clip")
    method = method or default
    if method != default:
        raise ValueError(f"ms-swift {loss_type!r} (delta={delta}, level={level}, rollout={rollout_mode}) "
                         f"implements {default!r}, not {method!r}")
    if rollout_mode not in (None, *ROLLOUT):
        raise ValueError(f"the adapter drives rollout_importance_sampling_mode {', '.join(ROLLOUT)} only")
    m = methods.get(method)
    p = m.resolve_params(params)
    if method in ("cispo", *ROLLOUT.values()) and "clip_min" in p:   # from above only (grpo_trainer.py:1037, :2374)
        p["clip_min"] = 0.0
    eps, eps_high = (0.2, p["clip_max"]) if method == "cispo" else (0.2, 0.28) if rollout_mode else \
        (p["eps_low"], p["eps_high"])
    if method == "dual_clip":
        delta = p["dual_clip_c"]
    tr = trainer(loss_type, epsilon=eps, epsilon_high=eps_high, delta=delta, level=level, rollout_mode=rollout_mode,
                 threshold=p.get("clip_max", 2.0), max_completion_length=max_completion_length)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
        B = logp.shape[0]
        steps = num_seqs / B if num_seqs and B else 1          # current_gradient_accumulation_steps
        tr.current_gradient_accumulation_steps = steps
        tr._get_per_token_logps_and_entropies = lambda *a, **k: (logp, None)
        n_items = mask.sum() if num_tokens is None else torch.tensor(float(num_tokens))
        batch = SimpleNamespace(completion_mask=mask, truncated_mask=torch.zeros(B, dtype=torch.bool),
                                ref_per_token_logps=None, advantages=adv, num_items_in_batch=n_items,
                                old_per_token_logps=None if rollout_mode else logp_mu,
                                rollout_per_token_logps=logp_mu if rollout_mode else None,
                                teacher_per_token_logps=None)
        out, _ = tr._compute_loss_and_metrics(None, {}, batch)
        return out / steps                                      # the Trainer's division before backward

    # the sequence modes clamp every token's log-ratio to ±20 (:2363) before the geometric mean, and
    # sequence_mask weights a kept token by its clamped ratio min(r, e^20) (the gradient flows through
    # the PPO ratio at old = current, not through the weight)
    clamp = {"sequence_truncate": dict(statistics_clamp=SAFETY_BOUND),
             "sequence_mask": dict(statistics_clamp=SAFETY_BOUND, is_truncation=math.exp(SAFETY_BOUND))}.get(rollout_mode, {})
    conv = plain.conventions(agg=LOSS_TYPES[loss_type] if not rollout_mode else "seq-mean-token-mean",
                             horizon=max_completion_length if loss_type == "dr_grpo" else None,
                             compare_value=method in ("ppo_clip", "dual_clip", "gspo_token"), **clamp)
    spec = f"swift:{loss_type}"
    opts = {k: v for k, v in dict(delta=delta if method != "dual_clip" else None, level=level,
                                  rollout_mode=rollout_mode).items()
            if v != target.__kwdefaults__[k]}
    t = Target(spec, loss, m.name, p, conv, call_params={}, timeout=timeout, equal_splits=True,
               reproducer=reproducer_line(spec, "swift", m.name, params, opts))
    t.variant = lambda params=None, agg=None: target(loss_type, method=m.name, params=p if params is None else params,
                                                     level=level, rollout_mode=rollout_mode,
                                                     max_completion_length=max_completion_length, timeout=timeout)
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("swift:") else spec
    return target(kind, method=method, params=params, **options)
