"""The verl adapter: the policy losses registered in ``verl.trainer.ppo.core_algos``
(``get_policy_loss_fn(mode)``), called as verl's actor calls them::

    pg_loss, metrics = fn(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config)

with an ``ActorConfig`` (``clip_ratio_low/high`` are *offsets* for ratio modes and *thresholds*
for DPPO, ``clip_ratio_c`` is the dual-clip constant and DPPO's IS truncation,
``policy_loss.dro_beta``) and ``config.global_batch_info`` = {dp_size, batch_num_tokens,
global_batch_size, loss_scale_factor}. verl scales by ``dp_size`` because DDP averages over ranks;
the adapter returns the rank's contribution, ``pg_loss / dp_size``.

Translation (our method ← verl mode; design choices as oracle conventions):

| mode | method | params | conventions |
|---|---|---|---|
| vanilla | dual_clip | eps_low/high ← clip_ratio_low/high, dual_clip_c ← clip_ratio_c | log-ratio clamp ±20 |
| dppo_tv / dppo_kl | dppo_binary_tv / _kl | delta_low/high ← clip_ratio_low/high | IS truncated at clip_ratio_c; value is the surrogate −Â sg(r) M ℓ |
| gspo | gspo_token | eps_low/high ← clip_ratio_low/high | clamp (−∞, 10] on the token's sequence log-ratio |
| cispo | cispo | clip_min = 1 − clip_ratio_low, clip_max = 1 + clip_ratio_high | log-ratio clamp ±20 |
| gpg | gpg | — | — |
| dro | dro | beta ← policy_loss.dro_beta | — |
| rollout_rs=token_k* / seq_{sum,mean}_k* / seq_max_k{2,3} | rs_token_k* / rs_seq_* | lower_upper ← lower, upper (k1); threshold ← delta | token log-ratio clamp ±20, inside the sequence statistics too |
| rollout_is=token / sequence (vanilla loss, old = current) | tis_token / tis_seq; with a lower_upper band masked_is_token, icepop / masked_is_seq | threshold ← clip_max, lower_upper ← clip_min, clip_max | (summed) log-ratio clamp ±20 before exp |

Options: ``agg`` (verl's loss_agg_mode, default token-mean), ``horizon`` (loss_scale_factor of
seq-mean-token-sum-norm; None = verl's default, the padded width), ``clip_ratio_c`` (DPPO: the
IS truncation; default: ActorConfig's own default).
"""
from __future__ import annotations

import math

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import plain, reproducer_line
from drpo_analysis.fuzz.targets import BoundFields, Target

MODES = {"vanilla": "dual_clip", "dppo_tv": "dppo_binary_tv", "dppo_kl": "dppo_binary_kl",
         "gspo": "gspo_token", "cispo": "cispo", "gpg": "gpg", "dro": "dro"}
CLAMP = 20.0


def _config(mode, p, clip_ratio_c, agg, loss_scale_factor=None):
    from verl.workers.config.actor import ActorConfig, PolicyLossConfig

    kw = {}
    if mode == "vanilla":
        kw = dict(clip_ratio_low=p["eps_low"], clip_ratio_high=p["eps_high"], clip_ratio_c=p["dual_clip_c"])
    elif mode in ("dppo_tv", "dppo_kl"):
        kw = dict(clip_ratio_low=p["delta_low"], clip_ratio_high=p["delta_high"])
        if clip_ratio_c is not None:
            kw["clip_ratio_c"] = clip_ratio_c
    elif mode == "gspo":
        kw = dict(clip_ratio_low=p["eps_low"], clip_ratio_high=p["eps_high"])
    elif mode == "cispo":
        kw = dict(clip_ratio_low=1.0 - p["clip_min"], clip_ratio_high=p["clip_max"] - 1.0)
    if "clip_ratio_low" in kw:     # the legacy symmetric field (verl falls back to it when low/high are None)
        kw["clip_ratio"] = kw["clip_ratio_low"]
    pl = PolicyLossConfig(loss_mode=mode, dro_beta=p.get("beta") if mode == "dro" else None)
    if loss_scale_factor is not None:
        kw["loss_scale_factor"] = loss_scale_factor
    return ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, loss_agg_mode=agg,
                       policy_loss=pl, **kw)


def target(mode, *, method=None, params=None, agg="token-mean", horizon=None, loss_scale_factor="horizon",
           clip_ratio_c=None, timeout=20.0, **options) -> Target:
    """verl's registered loss ``mode``, or (a callable) a user's function with verl's signature
    (:func:`user_target`). ``horizon``: the reference's L_const; ``loss_scale_factor``: what verl
    is given (default: the same; ``None``: verl's own default, the padded width)."""
    if callable(mode):
        return user_target(mode, method=method, params=params, agg=agg, horizon=horizon, timeout=timeout, **options)
    from verl.trainer.ppo import core_algos

    if mode not in MODES:
        raise ValueError(f"verl mode must be one of {', '.join(MODES)}, got {mode!r}")
    method = method or MODES[mode]
    if method != MODES[mode] and not (mode == "vanilla" and method == "ppo_clip"):
        raise ValueError(f"verl mode {mode!r} implements method {MODES[mode]!r}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    if mode == "vanilla" and method == "ppo_clip":
        p["dual_clip_c"] = 3.0  # verl always applies its dual clip: the deviation is then reported
    fn = core_algos.get_policy_loss_fn(mode)
    config = _config(mode, p, clip_ratio_c, agg)
    if method == "ppo_clip":
        p.pop("dual_clip_c")

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        dp = _fill_batch_info(config, num_tokens, num_seqs, dp_size,
                              horizon if loss_scale_factor == "horizon" else loss_scale_factor)
        pg_loss, _ = fn(old_log_prob=logp_mu, log_prob=logp, advantages=adv, response_mask=mask.to(logp.dtype),
                        loss_agg_mode=agg, config=config)
        return pg_loss / dp

    conv = dict(agg=agg, horizon=horizon, count_empty_rows=agg == "token-mean" or agg == "token-sum")
    if mode in ("vanilla", "cispo"):
        conv["log_ratio_clamp"] = CLAMP
    if mode == "gspo":
        conv["log_ratio_clamp"] = (-math.inf, 10.0)
    if mode in ("dppo_tv", "dppo_kl"):
        conv.update(is_truncation=config.get("clip_ratio_c", 20.0), compare_value=False)
    options = {k: v for k, v in (("agg", agg), ("horizon", horizon), ("clip_ratio_c", clip_ratio_c))
               if v is not None and not (k == "agg" and v == "token-mean")}
    if loss_scale_factor != "horizon":
        options["loss_scale_factor"] = loss_scale_factor
    t = Target(f"verl:{mode}", loss, m.name, p, plain.conventions(**conv), call_params={},
               reproducer=reproducer_line(f"verl:{mode}", "verl", m.name, params, options), timeout=timeout,
               notes=tuple(f"{k}={v}" for k, v in conv.items() if k != "agg"), agg_modes=AGG_MODES)

    def variant(params=None, agg=None):
        kw = dict(agg=t.conventions.agg if agg is None else agg, horizon=horizon,
                  loss_scale_factor=loss_scale_factor, clip_ratio_c=clip_ratio_c)
        if agg == "seq-mean-token-sum-norm":
            kw.update(horizon=plain.SWEEP_HORIZON, loss_scale_factor="horizon")
        return target(mode, method=method, params=p if params is None else params, timeout=timeout, **kw)
    t.variant = variant
    return t


#: bounds verl's ActorConfig carries in separate fields (ratio offsets for PPO / GSPO, thresholds for
#: DPPO), with the symmetric clip_ratio they fall back to (core_algos.py:1321, 1415, 1575: ``config.clip_ratio_low
#: if config.clip_ratio_low is not None else clip_ratio``)
BOUNDS = tuple(BoundFields(lo, hi, "config.clip_ratio_low", "config.clip_ratio_high", "config.clip_ratio")
               for lo, hi in (("eps_low", "eps_high"), ("delta_low", "delta_high")))
#: loss_agg_mode values verl's agg_loss accepts (our names are verl's)
AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
#: the arguments verl's actor passes a policy loss, by name
SIGNATURE = ("old_log_prob", "log_prob", "advantages", "response_mask")


def _user_config(method, p, agg, horizon=None):
    """An ActorConfig for a user's function: the verl fields of the method's mode (table above)
    and, for parameters verl has no field for, attributes by our names on the config and on
    ``config.policy_loss`` (e.g. ``config.policy_loss.delta``)."""
    mode = next((k for k, v in MODES.items() if v == method), "vanilla")
    config = _config(mode, {**{"eps_low": 0.2, "eps_high": 0.28, "dual_clip_c": 3.0}, **p}, None, agg,
                     None if horizon is None else int(horizon))
    for k, v in p.items():
        for obj in (config, config.policy_loss):
            try:
                setattr(obj, k, v)
            except AttributeError:      # a frozen verl field of the same name: verl's value stands
                pass
    return config


def honours_global_batch_info(fn) -> bool:
    """Whether ``fn``'s source reads ``global_batch_info`` (verl >= 0.7's global token / sequence
    counts): only then are micro-batch and data-parallel splits checked."""
    import inspect
    try:
        return "global_batch_info" in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def user_target(fn, *, method=None, params=None, agg="token-mean", horizon=None, global_counts=None,
                name=None, spec=None, timeout=20.0, **options) -> Target:
    """A user's own function with verl's policy-loss signature::

        pg_loss[, metrics...] = fn(old_log_prob, log_prob, advantages, response_mask,
                                   loss_agg_mode="token-mean", config=None, ...)

    ``config`` is an ``ActorConfig`` (clip_ratio_low/high/c from the method's parameters, our
    parameter names as attributes too, ``global_batch_info`` with the global counts); the first
    element of a returned tuple is the loss. Every loss_agg_mode is exercised. ``global_counts``:
    whether ``fn`` honours ``config.global_batch_info`` (default: its source mentions it).
    ``options``: design choices as for the plain adapter (log_ratio_clamp, ...)."""
    import inspect

    if method is None:
        raise ValueError("method is required for a user function (one of: " + ", ".join(methods.names()) + ")")
    m = methods.get(method)
    p = m.resolve_params(params)
    config = _user_config(m.name, p, agg, horizon)
    counts = honours_global_batch_info(fn) if global_counts is None else bool(global_counts)
    named = set(inspect.signature(fn).parameters)
    by_name = set(SIGNATURE) <= named
    lsf = horizon if horizon is not None else None

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        dp = _fill_batch_info(config, num_tokens, num_seqs, dp_size, lsf)
        rm = mask.to(logp.dtype)
        if by_name:
            out = fn(old_log_prob=logp_mu, log_prob=logp, advantages=adv, response_mask=rm, loss_agg_mode=agg,
                     config=config)
        else:
            out = fn(logp_mu, logp, adv, rm, agg, config)
        pg_loss = out[0] if isinstance(out, (tuple, list)) else out
        return pg_loss / dp if counts else pg_loss

    if not counts:
        loss.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                for n in ("logp", "logp_mu", "adv", "mask")])
    conv = plain.conventions(agg=agg, horizon=horizon, count_empty_rows=agg in ("token-mean", "token-sum"),
                             **options)
    spec = spec or plain._spec_of(fn)
    opts = {k: v for k, v in {"agg": agg, "horizon": horizon, "global_counts": global_counts, **options}.items()
            if v is not None and not (k == "agg" and v == "token-mean")}
    t = Target(name or spec or getattr(fn, "__qualname__", repr(fn)), loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "verl", m.name, params, opts) if spec else "",
               timeout=float(timeout), agg_modes=AGG_MODES, keep_ties=True, split_ties=BOUNDS)

    def variant(params=None, agg=None):
        kw = dict(agg=conv.agg if agg is None else agg, horizon=horizon, global_counts=global_counts)
        if agg == "seq-mean-token-sum-norm":
            kw["horizon"] = plain.SWEEP_HORIZON
        return user_target(fn, method=m.name, params=p if params is None else params, name=t.name, spec=spec,
                           timeout=timeout, **kw, **options)
    t.variant = variant
    return t


#: verl's rollout rejection criteria (``rollout_rs``, token and sequence level) and the registry's references
ROLLOUT_RS = {"token_k1": "rs_token_k1", "token_k2": "rs_token_k2", "token_k3": "rs_token_k3",
              **{f"seq_{how}_{k}": f"rs_seq_{how}_{k}" for how in ("sum", "mean") for k in ("k1", "k2", "k3")},
              "seq_max_k2": "rs_seq_max_k2", "seq_max_k3": "rs_seq_max_k3"}


def rollout_rs_target(option, *, method=None, params=None, agg="token-mean", timeout=20.0) -> Target:
    """verl's ``compute_rollout_rejection_mask(log_ratio, response_mask, rollout_rs=option,
    rollout_rs_threshold=...)`` on ``log r = ℓ − ℓ_μ`` (π the trained, μ the rollout policy),
    applied to the importance-sampled PG ``−M r Â`` and aggregated by verl's ``agg_loss`` over the
    original response mask: the rejection criterion is what is compared (thresholds from the
    method's parameters)."""
    import torch
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_rejection_mask

    if option not in ROLLOUT_RS:
        raise ValueError(f"verl rollout_rs must be one of {', '.join(ROLLOUT_RS)}, got {option!r}")
    method = method or ROLLOUT_RS[option]
    if method != ROLLOUT_RS[option]:
        raise ValueError(f"verl rollout_rs={option!r} implements {ROLLOUT_RS[option]!r}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    threshold = f"{p['lower']}_{p['upper']}" if option.endswith("k1") else str(p["delta"])

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        rm = mask.to(logp.dtype)
        with torch.no_grad():
            keep, _ = compute_rollout_rejection_mask(log_ratio=(logp - logp_mu).detach(), response_mask=rm,
                                                     rollout_rs=option, rollout_rs_threshold=threshold)
        lr = torch.where(mask, logp - logp_mu, torch.zeros_like(logp)).clamp(-CLAMP, CLAMP)   # as verl's losses
        per_token = -torch.exp(lr) * adv
        info = {"dp_size": dp_size or 1, "batch_num_tokens": num_tokens, "global_batch_size": num_seqs}
        # verl's trainer replaces response_mask by the rejection mask, so rejected tokens also leave the
        # normaliser; here the mask multiplies the loss and the normaliser counts every valid token (the
        # registry's J = M r Â): what is compared is the rejection criterion itself
        return core_algos.agg_loss(per_token * keep, rm, agg, **info) / (dp_size or 1)

    spec = f"verl:rollout_rs={option}"
    # verl clamps every token's log-ratio to ±20 before its divergence (rollout_corr_helper.py:262)
    conv = plain.conventions(agg=agg, count_empty_rows=agg in ("token-mean", "token-sum"), log_ratio_clamp=CLAMP,
                             statistics_clamp=CLAMP)
    t = Target(spec, loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "verl", m.name, params, {} if agg == "token-mean" else {"agg": agg}),
               timeout=timeout, agg_modes=AGG_MODES[:4])

    def variant(params=None, agg=None):
        return rollout_rs_target(option, method=m.name, params=p if params is None else params,
                                 agg=conv.agg if agg is None else agg, timeout=timeout)
    t.variant = variant
    return t


#: registry method → (verl ``rollout_is`` level, whether verl is given a ``"lower_upper"`` band)
ROLLOUT_IS = {"tis_token": ("token", False), "masked_is_token": ("token", True), "icepop": ("token", True),
              "tis_seq": ("sequence", False), "masked_is_seq": ("sequence", True)}


def rollout_is_target(level, *, method=None, params=None, agg="token-mean", timeout=20.0) -> Target:
    """verl's ``compute_rollout_correction_weights(log_ratio, response_mask, rollout_is=level,
    rollout_is_threshold=...)`` on ``log r = ℓ − ℓ_μ`` (π's log-probs before the update, i.e. the
    current ones, against the rollout engine's μ), passed as ``rollout_is_weights`` to verl's vanilla
    policy loss with ``old_log_prob = sg(ℓ)`` (ratio 1, so the gradient is ``w Â`` per token).
    A single threshold is truncated IS (``clip_max``); a ``"lower_upper"`` band (``clip_min``,
    ``clip_max``, both > 0 for verl) zeroes the weight outside it (IcePop / masked IS)."""
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_weights

    levels = {"token": "tis_token", "sequence": "tis_seq"}
    if level not in levels:
        raise ValueError(f"verl rollout_is must be one of {', '.join(levels)}, got {level!r}")
    method = method or levels[level]
    if ROLLOUT_IS.get(method, (None,))[0] != level:
        raise ValueError(f"verl rollout_is={level!r} implements one of "
                         f"{[k for k, v in ROLLOUT_IS.items() if v[0] == level]}, not {method!r}")
    m = methods.get(method)
    p = m.resolve_params(params)
    band = ROLLOUT_IS[method][1]
    if band and p["clip_min"] <= 0:
        raise ValueError(f"verl's rollout_is_threshold band needs a lower bound > 0; give clip_min for {method!r}")
    if not band and p.get("clip_min", 0.0) != 0:
        raise ValueError("verl's truncated IS clamps from above only: clip_min must be 0")
    threshold = f"{p['clip_min']}_{p['clip_max']}" if band else p["clip_max"]
    config = _config("vanilla", {"eps_low": 0.2, "eps_high": 0.28, "dual_clip_c": 3.0}, None, agg)

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, dp_size=None):
        dp = _fill_batch_info(config, num_tokens, num_seqs, dp_size, None)
        rm = mask.to(logp.dtype)
        w, _ = compute_rollout_correction_weights(log_ratio=(logp - logp_mu).detach(), response_mask=rm,
                                                  rollout_is=level, rollout_is_threshold=threshold)
        pg_loss, _ = core_algos.compute_policy_loss_vanilla(old_log_prob=logp.detach(), log_prob=logp, advantages=adv,
                                                            response_mask=rm, loss_agg_mode=agg, config=config,
                                                            rollout_is_weights=w)
        return pg_loss / dp

    spec = f"verl:rollout_is={level}"
    conv = plain.conventions(agg=agg, count_empty_rows=agg in ("token-mean", "token-sum"), log_ratio_clamp=CLAMP)
    t = Target(spec, loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "verl", m.name, params, {} if agg == "token-mean" else {"agg": agg}),
               timeout=timeout, agg_modes=AGG_MODES[:4])

    def variant(params=None, agg=None):
        params = p if params is None else params
        if not band and "clip_min" in params:     # the sweep's draw: verl has no lower truncation to set
            params = {**params, "clip_min": 0.0}
        return rollout_is_target(level, method=m.name, params=params, agg=conv.agg if agg is None else agg,
                                 timeout=timeout)
    t.variant = variant
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    if spec.startswith("verl:rollout_is="):
        return rollout_is_target(spec.split("=", 1)[1], method=method, params=params, **options)
    if spec.startswith("verl:rollout_rs="):
        return rollout_rs_target(spec.split("=", 1)[1], method=method, params=params, **options)
    if spec.startswith("verl:"):
        return target(spec.split(":", 1)[1], method=method, params=params, **options)
    if spec in MODES:
        return target(spec, method=method, params=params, **options)
    return user_target(plain.resolve(spec), method=method, params=params, spec=spec, **options)


def _fill_batch_info(config, num_tokens, num_seqs, dp_size, loss_scale_factor) -> int:
    """verl's ``config.global_batch_info`` for one call (the global counts its aggregation reads);
    returns the data-parallel size the loss is divided by."""
    info = config.global_batch_info
    info.clear()
    dp = dp_size or 1
    info["dp_size"] = dp
    if num_tokens is not None:
        info["batch_num_tokens"] = num_tokens
    if num_seqs is not None:
        info["global_batch_size"] = num_seqs
    if loss_scale_factor is not None:
        info["loss_scale_factor"] = loss_scale_factor
    return dp
