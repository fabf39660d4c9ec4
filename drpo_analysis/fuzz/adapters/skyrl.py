"""The SkyRL adapter (``skyrl`` 0.3.0): the policy losses of
``skyrl/backends/skyrl_train/utils/ppo_utils.py`` and the off-policy corrections of
``off_policy_correction_utils.py``, loaded by path.

``skyrl.backends``'s ``__init__`` imports the Tinker engine backends and ``skyrl.train.config``
imports the gym environments; the loss files need torch, ray, jaxtyping, loguru, omegaconf, and
one name from the config, shimmed (:mod:`.bypath`): ``skyrl.train.config.AlgorithmConfig`` (a type
annotation: the adapter passes a namespace with the fields the loss reads, defaults from
``skyrl/train/config/config.py``).

Every SkyRL policy loss has the signature (``ppo_utils.py:556``)::

    loss, metrics = fn(log_probs, old_log_probs, advantages, config, loss_mask, rollout_logprobs)

and *sums* ``loss * loss_mask`` (``reduce_loss``, ``ppo_utils.py:1088``): the aggregation is done
beforehand, on the whole mini-batch (the optimiser step), by scaling the advantages
(``apply_loss_reduction_to_advantages_minibatch``, ``ppo_utils.py:1095``, called by
``train/trainer.py:1469``). The adapter calls that function on the fuzzer's batch and, on a
micro-batch or data-parallel shard, rescales by (this shard's count / the step's count), which is
what the mini-batch-level call gives the shard's rows.

| kind | SkyRL | method | design choices (declared) |
|---|---|---|---|
| regular | ppo_policy_loss | ppo_clip (eps_low/high ← eps_clip_low/high) | log-ratio clamp ±20 (``safe_exp_delta``, ``ppo_utils.py:566``) |
| dual_clip | ppo_policy_loss | dual_clip (dual_clip_c ← clip_ratio_c) | clamp ±20 |
| gspo | gspo_policy_loss | gspo_token | token log-weight clamped at +10 (``ppo_utils.py:708``) |
| cispo | compute_policy_loss_cispo | cispo (clip_min = 1 − cispo_eps_clip_low, clip_max = 1 + cispo_eps_clip_high) | clamp ±20; value is the surrogate −Â·sg(w)·ℓ |
| dppo_tv / dppo_kl | dppo_policy_loss (dppo_type binary_tv / binary_kl) | dppo_binary_tv / _kl | clamp ±20 |
| importance_sampling | importance_sampling_loss | pg_is | — |
| tis | ppo_policy_loss + off_policy_correction tis_ratio_type="token", old = sg(π), rollout = μ | tis_token (clip_max ← token_tis_ratio_clip_high) | value: the PPO term at r = 1 times the weight |
| token_mask | as tis, plus token_mask_is_threshold_low/high (clip_min/clip_max) and the TIS cap at clip_max, as ``compute_token_mask`` advises (``off_policy_correction_utils.py:153``: "combine this with token-level TIS") | masked_is_token | as tis |
| tis_seq | as tis with tis_ratio_type="sequence": exp(Σ_t m·log r_t), clamped ±20 in log space (``off_policy_correction_utils.py:63``), capped at sequence_tis_ratio_clip_high | tis_seq (clip_max ← the cap) | summed log-ratio clamp ±20; as tis |
| product_mask | sequence_mask_metric="product" (product_mask_low/high ← clip_min/clip_max) with the sequence TIS cap at clip_max, so a kept sequence is weighted by its own Π_t r_t | masked_is_seq | as tis_seq |
| rollout_is | rollout_is_policy_loss (ratio to rollout_logprobs = μ; zero outside (1 − eps_clip_low, 1 + eps_clip_high)) | masked_is_token (clip_min = 1 − eps_clip_low, clip_max = 1 + eps_clip_high) | value: −sg(w)·Â·ℓ |

``reduction``: SkyRL's ``loss_reduction`` — token_mean (token-mean), sequence_mean
(seq-mean-token-mean, every row counted), seq_mean_token_sum_norm (seq-mean-token-sum-norm,
L_const = ``max_seq_len``).
"""
from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

from drpo_analysis.core import methods
from drpo_analysis.fuzz.adapters import bypath, plain, reproducer_line
from drpo_analysis.fuzz.targets import Target

DIST, VERSION = "skyrl", "0.3.0"
_U = "skyrl.backends.skyrl_train.utils"
#: kind -> (the ppo_utils function, our method, log-ratio clamp, value compared)
KINDS = {"regular": ("ppo_policy_loss", "ppo_clip", 20.0, True),
         "dual_clip": ("ppo_policy_loss", "dual_clip", 20.0, True),
         "gspo": ("gspo_policy_loss", "gspo_token", (-math.inf, 10.0), True),
         "cispo": ("compute_policy_loss_cispo", "cispo", 20.0, False),
         "dppo_tv": ("dppo_policy_loss", "dppo_binary_tv", 20.0, True),
         "dppo_kl": ("dppo_policy_loss", "dppo_binary_kl", 20.0, True),
         "importance_sampling": ("importance_sampling_loss", "pg_is", None, True),
         "tis": ("ppo_policy_loss", "tis_token", None, False),
         "token_mask": ("ppo_policy_loss", "masked_is_token", None, False),
         "rollout_is": ("rollout_is_policy_loss", "masked_is_token", None, False),
         "tis_seq": ("ppo_policy_loss", "tis_seq", 20.0, False),
         "product_mask": ("ppo_policy_loss", "masked_is_seq", 20.0, False)}
#: kinds that are rollout correction alone: old = sg(π), rollout = μ
OFF_POLICY = ("tis", "token_mask", "tis_seq", "product_mask")
REDUCTIONS = {"token_mean": "token-mean", "sequence_mean": "seq-mean-token-mean",
              "seq_mean_token_sum_norm": "seq-mean-token-sum-norm"}


def loss_module():
    """SkyRL's ``ppo_utils.py`` with its two sibling files (module docstring)."""
    root = bypath.package_root(DIST, "skyrl", VERSION) / "backends" / "skyrl_train" / "utils"
    files = [(f"{_U}.torch_utils", "torch_utils.py"),
             (f"{_U}.off_policy_correction_utils", "off_policy_correction_utils.py"),
             (f"{_U}.ppo_utils", "ppo_utils.py")]
    shims = {"skyrl.train.config": bypath.shim("skyrl.train.config", AlgorithmConfig=SimpleNamespace)}
    mods = bypath.load_files("_drpo_skyrl", root, files, shims)
    from loguru import logger
    logger.disable(_U)     # GSPO/SAPO warn on every call with a reduction other than sequence_mean
    warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom", category=UserWarning)  # TIS metrics
    return mods[f"{_U}.ppo_utils"]


def off_policy(**fields) -> SimpleNamespace:
    """``OffPolicyCorrectionConfig`` with its defaults (``train/config/config.py:567``)."""
    d = dict(tis_ratio_type=None, token_tis_ratio_clip_high=2.0, sequence_tis_ratio_clip_high=5.0,
             sequence_mask_metric=None, geo_mask_high=1.01, geo_mask_low=0.99, product_mask_high=2.0,
             product_mask_low=0.5, outlier_token_is_threshold_low=None, outlier_token_is_threshold_high=None,
             token_mask_is_threshold_low=None, token_mask_is_threshold_high=None)
    d.update(fields)
    return SimpleNamespace(**d)


def config(kind: str, p: dict, reduction: str) -> SimpleNamespace:
    """The ``AlgorithmConfig`` fields the loss reads, from our parameters (module docstring)."""
    c = SimpleNamespace(policy_loss_type=kind if kind in ("regular", "dual_clip") else "regular",
                        loss_reduction=reduction, eps_clip_low=0.2, eps_clip_high=0.2, clip_ratio_c=3.0,
                        off_policy_correction=off_policy(),
                        cispo=SimpleNamespace(cispo_eps_clip_low=0.0, cispo_eps_clip_high=5.0),
                        dppo=SimpleNamespace(dppo_type="binary_tv", delta_low=0.2, delta_high=0.2))
    if "eps_low" in p:
        c.eps_clip_low, c.eps_clip_high = p["eps_low"], p["eps_high"]
    if "dual_clip_c" in p:
        c.clip_ratio_c = p["dual_clip_c"]
    if kind == "cispo":
        c.cispo = SimpleNamespace(cispo_eps_clip_low=1.0 - p["clip_min"], cispo_eps_clip_high=p["clip_max"] - 1.0)
    if kind.startswith("dppo"):
        c.dppo = SimpleNamespace(dppo_type="binary_" + kind.split("_")[1], delta_low=p["delta_low"],
                                 delta_high=p["delta_high"])
    if kind == "tis":
        c.off_policy_correction = off_policy(tis_ratio_type="token", token_tis_ratio_clip_high=p["clip_max"])
    if kind == "token_mask":
        c.off_policy_correction = off_policy(tis_ratio_type="token", token_tis_ratio_clip_high=p["clip_max"],
                                             token_mask_is_threshold_low=p["clip_min"],
                                             token_mask_is_threshold_high=p["clip_max"])
    if kind == "tis_seq":
        c.off_policy_correction = off_policy(tis_ratio_type="sequence", sequence_tis_ratio_clip_high=p["clip_max"])
    if kind == "product_mask":
        c.off_policy_correction = off_policy(tis_ratio_type="sequence", sequence_tis_ratio_clip_high=p["clip_max"],
                                             sequence_mask_metric="product", product_mask_low=p["clip_min"],
                                             product_mask_high=p["clip_max"])
    if kind == "rollout_is":
        c.eps_clip_low, c.eps_clip_high = 1.0 - p["clip_min"], p["clip_max"] - 1.0
    return c


def target(kind="regular", *, method=None, params=None, reduction="token_mean", max_seq_len=16,
           timeout=20.0) -> Target:
    """``max_seq_len``: L_const of seq_mean_token_sum_norm."""
    if kind not in KINDS:
        raise ValueError(f"SkyRL kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"SkyRL loss_reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    fname, default, clamp, value = KINDS[kind]
    if (method or default) != default:
        raise ValueError(f"SkyRL {kind!r} implements {default!r}, not {method!r}")
    m = methods.get(default)
    p = m.resolve_params(params)
    if kind == "tis_seq":        # SkyRL truncates the sequence ratio from above only
        p["clip_min"] = 0.0
    U = loss_module()
    fn, cfg = getattr(U, fname), config(kind, p, reduction)
    agg = REDUCTIONS[reduction]

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
        B, T = logp.shape
        m_f = mask.to(logp.dtype)
        scaled = U.apply_loss_reduction_to_advantages_minibatch(adv, m_f, reduction, micro_batch_size=B,
                                                               max_seq_len=max_seq_len)
        local, step = (m_f.sum(), num_tokens) if agg == "token-mean" else (B, num_seqs)
        if step and local:            # this shard's rows of the step's mini-batch-level scaling
            scaled = scaled * (local / step)
        if kind in OFF_POLICY:     # rollout correction alone: old = sg(π), rollout = μ
            out, _ = fn(logp, logp.detach(), scaled, cfg, loss_mask=m_f, rollout_logprobs=logp_mu)
        elif kind == "rollout_is":
            out, _ = fn(logp, logp_mu, scaled, cfg, loss_mask=m_f, rollout_logprobs=logp_mu)
        else:
            out, _ = fn(logp, logp_mu, scaled, cfg, loss_mask=m_f)
        return out

    conv = plain.conventions(agg=agg, horizon=max_seq_len if agg == "seq-mean-token-sum-norm" else None,
                             log_ratio_clamp=clamp, compare_value=value)
    opts = {k: v for k, v in dict(reduction=reduction, max_seq_len=max_seq_len).items()
            if v != target.__kwdefaults__[k]}
    spec = f"skyrl:{kind}"
    t = Target(spec, loss, m.name, p, conv, call_params={},
               reproducer=reproducer_line(spec, "skyrl", m.name, params, opts), timeout=timeout,
               agg_modes=tuple(REDUCTIONS.values()))

    def variant(params=None, agg=None):
        red = reduction if agg is None else next(k for k, v in REDUCTIONS.items() if v == agg)
        return target(kind, method=m.name, params=p if params is None else params, reduction=red,
                      max_seq_len=max_seq_len, timeout=timeout)
    t.variant = variant
    return t


def load(spec, *, method=None, params=None, **options) -> Target:
    kind = spec.split(":", 1)[1] if spec.startswith("skyrl:") else spec
    return target(kind, method=method, params=params, **options)
