"""Rollout (training–inference mismatch) corrections as references: importance weights and
rejection masks on the ratio r = π/μ between the trained policy π and the rollout engine's μ.

Two shapes, both with frozen weights / masks:

* **weighted IS**: ``J = sg(w) Â ℓ`` (only the gradient ``w Â`` is specified; the value is a
  gradient device), e.g. truncated IS ``w = min(r, C)`` (TIS, Yao et al. 2025);
* **rejection**: ``J = M r Â`` with a frozen mask ``M`` (``w = M``), e.g. masked IS (TRL
  ``token_mask``: keep ``C_min ≤ r ≤ C``), IcePop (keep the token only while ``r`` stays in
  ``[α, β]``), a binary-KL bound (keep ``D_KL^bin(μ‖π) ≤ δ``, both directions), and verl's
  ``rollout_rs`` token criteria on ``k1 = −log r``, ``k2 = ½ (log r)²``, ``k3 = r − 1 − log r``
  (verl ``trainer/ppo/rollout_corr_helper.py``).

Sequence level: the same two shapes with a frozen per-sequence statistic of the row's valid tokens,
an :class:`~drpo_analysis.core.methods.base.Extra` broadcast to every token of the row (as GSPO's
sequence log-ratio, :mod:`~drpo_analysis.core.methods.sequence_ratio`):

* the sequence ratio ``R = Π_t r_t = exp(Σ_t (ℓ − ℓ_μ))`` (extra ``seq_log_ratio_sum``): truncated
  ``w = clip(R, C_min, C)`` (``tis_seq``: verl ``rollout_is="sequence"``, TRL
  ``sequence_truncate``, SkyRL ``tis_ratio_type="sequence"``) and masked ``w = R·[C_min ≤ R ≤ C]``
  (``masked_is_seq``: TRL ``sequence_mask``, verl ``rollout_is="sequence"`` with a ``"lower_upper"``
  threshold) — the kept sequence is weighted by its own R, not by each token's r;
* the geometric mean ``R̄ = exp(mean_t (ℓ − ℓ_μ))`` (GSPO's ``seq_log_ratio``): truncated
  ``w = clip(R̄, C_min, C)`` (``tis_seq_geo``: ms-swift ``sequence_truncate``) and the mask
  ``M = [C_min ≤ R̄ ≤ C]`` on the token's own ratio, ``J = M r Â`` (``masked_is_seq_geo``: ms-swift
  ``sequence_mask``, SkyRL ``sequence_mask_metric="geometric"``);
* verl's ``rollout_rs`` sequence criteria ``seq_{sum,mean}_k{1,2,3}`` and ``seq_max_k{2,3}``: the
  sum, mean or max over the row's valid tokens of the token divergence, ``J = M r Â`` with the whole
  sequence rejected; ``k1`` is bounded on both sides in log space (``log l ≤ stat ≤ log u``),
  ``k2``/``k3`` from above (``stat ≤ δ``).

Every sequence statistic is a frozen function of the row; the exponent of R and R̄ goes through the
backend's log-ratio clamp, as ``x.log_ratio`` does (verl and SkyRL clamp the summed log-ratio to
±20 before ``exp``). A row without valid tokens gets statistic 0 (verl's ``seq_max`` says so; the
other statistics are empty sums); it has no token to weight.
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import BatchInputs, Extra, Method, Param
from drpo_analysis.core.methods.divergence_mask import binary_kl
from drpo_analysis.core.methods.sequence_ratio import SEQ_LOG_RATIO, masked_log_ratio, valid_count


def weighted_pg(x, weight):
    """``J = sg(w) Â ℓ``: gradient ``w Â`` per token."""
    return x.sg(weight) * x.adv * x.ell


def rejected_pg(x, keep):
    """``J = M r Â`` with the frozen mask ``M = keep``."""
    return x.ops.where(keep, x.r * x.adv, 0 * x.adv)


def tis_token(x, p):
    """Token-level truncated IS (TIS): ``w = min(r, C)``."""
    return weighted_pg(x, x.ops.minimum(x.sg(x.r), p.clip_max))


def masked_is_token(x, p):
    """Token-level masked IS (TRL ``token_mask``; IcePop): keep iff ``C_min ≤ r ≤ C``."""
    r = x.sg(x.r)
    return rejected_pg(x, (r >= p.clip_min) & (r <= p.clip_max))


def binary_kl_rejection(x, p):
    """Reject the token iff the binary KL(μ‖π) over {sampled, rest} exceeds δ (either direction)."""
    return rejected_pg(x, binary_kl(x) <= p.delta)


def rs_token_k1(x, p):
    """verl ``rollout_rs=token_k1``: keep iff ``log lower ≤ −log r ≤ log upper``."""
    r = x.sg(x.r)                          # log l ≤ −log r ≤ log u  ⟺  l·r ≤ 1 ≤ u·r
    return rejected_pg(x, (r * p.lower <= 1) & (r * p.upper >= 1))


def rs_token_k2(x, p):
    """verl ``rollout_rs=token_k2``: keep iff ``½ (log r)² ≤ δ``."""
    lr = x.sg(x.log_ratio)
    return rejected_pg(x, lr * lr / 2 <= p.delta)


def rs_token_k3(x, p):
    """verl ``rollout_rs=token_k3``: keep iff ``r − 1 − log r ≤ δ``."""
    lr = x.sg(x.log_ratio)
    return rejected_pg(x, x.ops.expm1(lr) - lr <= p.delta)


def _band(lo, hi, what):
    return (Param("clip_min", lo, f"lower {what} bound", low=0.0, low_open=False, symbol="C_min"),
            Param("clip_max", hi, f"upper {what} bound", low=0.0, symbol="C"))


def _delta(default, what):
    return (Param("delta", default, what, low=0.0, symbol="delta"),)


TOKEN_METHODS = (
    Method("tis_token", "rollout_correction", "Truncated IS, token level (TIS)",
           "Yao et al. 2025 (truncated importance sampling); verl rollout_is='token'", tis_token,
           params=(Param("clip_max", 2.0, "truncation C of the detached IS weight", low=0.0, symbol="C"),),
           value_meaningful=False, notes="value sg(w)Âℓ is a gradient device"),
    Method("masked_is_token", "rollout_correction", "Masked IS, token level",
           "TRL vllm_importance_sampling_mode='token_mask'", masked_is_token, params=_band(0.0, 3.0, "ratio")),
    Method("icepop", "rollout_correction", "IcePop (token mask on the train/inference ratio)",
           "IcePop (inclusionAI Ring-1T report, 2025): keep tokens with r in [0.5, 5]", masked_is_token,
           params=_band(0.5, 5.0, "ratio")),
    Method("binary_kl_rejection", "rollout_correction", "Binary-KL rejection",
           "DPPO (arXiv 2602.04879) eq. 12's divergence as a two-sided rejection filter", binary_kl_rejection,
           params=_delta(0.05, "binary KL(μ‖π) bound")),
    Method("rs_token_k1", "rollout_correction", "verl rollout_rs=token_k1",
           "verl rollout_corr_helper.compute_rollout_rejection_mask", rs_token_k1,
           params=(Param("lower", 0.5, "lower bound on μ/π", low=0.0, symbol="l"),
                   Param("upper", 2.0, "upper bound on μ/π", low=0.0, symbol="u"))),
    Method("rs_token_k2", "rollout_correction", "verl rollout_rs=token_k2",
           "verl rollout_corr_helper.compute_rollout_rejection_mask", rs_token_k2,
           params=_delta(0.1, "bound on ½ (log r)²")),
    Method("rs_token_k3", "rollout_correction", "verl rollout_rs=token_k3",
           "verl rollout_corr_helper.compute_rollout_rejection_mask", rs_token_k3,
           params=_delta(0.1, "bound on r − 1 − log r")),
)


# --- sequence level ---------------------------------------------------------------------------

def build_seq_log_ratio_sum(xp, b: BatchInputs):
    """``log R = Σ_t (ℓ − ℓ_μ)`` over the row's valid tokens, broadcast per token [B, T]; frozen."""
    diff = masked_log_ratio(xp, b)                                   # [B, T]
    return xp.broadcast_to(diff.sum(-1)[..., None], diff.shape)


SEQ_LOG_RATIO_SUM = Extra("seq_log_ratio_sum", "frozen sum over the sequence of ℓ − ℓ_μ (log Π_t r_t), "
                          "broadcast per token", build_seq_log_ratio_sum, symbol="L_Sigma",
                          moves_with_ell=True, coordinate="log_ratio")


def sequence_ratio_of(x, log_ratio: Extra):
    """The frozen sequence ratio ``exp(stat)`` of a sequence log-ratio extra, through the backend's
    log-ratio clamp (verl, SkyRL: the summed log-ratio clamped to ±20 before ``exp``)."""
    return x.ops.exp(x.ops.clamp_log_ratio(x.extra(log_ratio)))


def truncated_sequence_is(log_ratio: Extra):
    """Sequence-level truncated IS on ``R = exp(stat)``: ``w = min(max(R, C_min), C)`` per token."""
    def objective(x, p):
        return weighted_pg(x, x.ops.minimum(x.ops.maximum(sequence_ratio_of(x, log_ratio), p.clip_min),
                                            p.clip_max))
    return objective


def masked_sequence_is(x, p):
    """Sequence-level masked IS (TRL ``sequence_mask``): ``w = R`` iff ``C_min ≤ R ≤ C``, else 0."""
    R = sequence_ratio_of(x, SEQ_LOG_RATIO_SUM)
    return weighted_pg(x, x.ops.where((R >= p.clip_min) & (R <= p.clip_max), R, 0 * R))


def masked_is_seq_geo(x, p):
    """The token's own ratio under a sequence mask on the geometric mean ``R̄``: ``J = M r Â``."""
    R = sequence_ratio_of(x, SEQ_LOG_RATIO)
    return rejected_pg(x, (R >= p.clip_min) & (R <= p.clip_max))


def k1_band(statistic: Extra):
    """verl ``seq_*_k1``: keep iff ``log l ≤ −stat ≤ log u`` (stat a sum / mean of ``log r``)."""
    def objective(x, p):
        R = x.ops.exp(x.extra(statistic))    # log l ≤ −log R ≤ log u  ⟺  l·R ≤ 1 ≤ u·R
        return rejected_pg(x, (R * p.lower <= 1) & (R * p.upper >= 1))
    return objective


def upper_bound(statistic: Extra):
    """verl ``seq_*_k2`` / ``seq_*_k3``: keep iff ``stat ≤ δ``."""
    def objective(x, p):
        return rejected_pg(x, x.extra(statistic) <= p.delta)
    return objective


def k2(xp, log_r):
    """verl's token ``k2 = ½ (log r)²``."""
    return log_r * log_r / 2


def k3(xp, log_r):
    """verl's token ``k3 = r − 1 − log r``."""
    return xp.expm1(log_r) - log_r


def row_sum(xp, v, b: BatchInputs):
    return xp.where(b.mask, v, 0.0).sum(-1)                         # [B]


def row_mean(xp, v, b: BatchInputs):
    return row_sum(xp, v, b) / valid_count(xp, b)[..., 0]          # [B]


def row_max(xp, v, b: BatchInputs):
    """Max over the row's valid tokens; 0 for a row without any (verl ``_sequence_max``)."""
    top = xp.amax(xp.where(b.mask, v, -float("inf")), -1)          # [B]
    return xp.where(b.mask.any(-1), top, 0.0)


def divergence_statistic(name: str, symbol: str, k, reduce, doc: str) -> Extra:
    """A frozen per-sequence statistic ``reduce_t k(log r_t)`` over the row's valid tokens,
    broadcast per token (0 in a row without valid tokens)."""
    def build(xp, b: BatchInputs):
        stat = reduce(xp, k(xp, masked_log_ratio(xp, b)), b)          # [B]
        return xp.broadcast_to(stat[..., None] * 1.0, b.mask.shape)
    return Extra(name, doc, build, symbol=symbol, low=0.0)


SEQ_SUM_K2 = divergence_statistic("seq_sum_k2", "K2_sum", k2, row_sum, "Σ_t ½ (log r_t)² over the sequence")
SEQ_MEAN_K2 = divergence_statistic("seq_mean_k2", "K2_mean", k2, row_mean, "mean_t ½ (log r_t)² over the sequence")
SEQ_MAX_K2 = divergence_statistic("seq_max_k2", "K2_max", k2, row_max, "max_t ½ (log r_t)² over the sequence")
SEQ_SUM_K3 = divergence_statistic("seq_sum_k3", "K3_sum", k3, row_sum, "Σ_t (r_t − 1 − log r_t) over the sequence")
SEQ_MEAN_K3 = divergence_statistic("seq_mean_k3", "K3_mean", k3, row_mean,
                                   "mean_t (r_t − 1 − log r_t) over the sequence")
SEQ_MAX_K3 = divergence_statistic("seq_max_k3", "K3_max", k3, row_max, "max_t (r_t − 1 − log r_t) over the sequence")

_VERL_RS = "verl rollout_corr_helper.compute_rollout_rejection_mask"
_K1_PARAMS = (Param("lower", 0.5, "lower bound on Π μ/π (sum) or its geometric mean (mean)", low=0.0, symbol="l",
                    source="our choice, as rs_token_k1 (verl's rollout_rs_threshold has no default; "
                           "'upper' alone means lower = 1/upper)"),
              Param("upper", 2.0, "upper bound on Π μ/π (sum) or its geometric mean (mean)", low=0.0, symbol="u",
                    source="our choice, as rs_token_k1"))


def _rs_seq(option: str, objective, statistic: Extra, params) -> Method:
    return Method(f"rs_{option}", "rollout_correction", f"verl rollout_rs={option}", _VERL_RS, objective,
                  params=params, extras=(statistic,))


def _rs_delta(what):
    return (Param("delta", 0.1, what, low=0.0, symbol="delta",
                  source="our choice, as rs_token_k2/k3 (verl's rollout_rs_threshold has no default)"),)


_TRL_BOUNDS = "TRL GRPOConfig vllm_importance_sampling_clip_min (None) / clip_max (3.0)"
_SEQ_CLIP_MIN = Param("clip_min", 0.0, "lower truncation C_min of the sequence weight (0: none)", low=0.0,
                      low_open=False, symbol="C_min",
                      source="TRL vllm_importance_sampling_clip_min=None; verl, SkyRL, ms-swift truncate from above only")

SEQUENCE_METHODS = (
    Method("tis_seq", "rollout_correction", "Truncated IS, sequence level",
           "verl rollout_is='sequence'; TRL vllm_importance_sampling_mode='sequence_truncate'",
           truncated_sequence_is(SEQ_LOG_RATIO_SUM),
           params=(_SEQ_CLIP_MIN,
                   Param("clip_max", 2.0, "truncation C of the detached sequence weight Π_t r_t", low=0.0,
                         symbol="C", source="verl RolloutCorrectionConfig rollout_is_threshold=2.0")),
           extras=(SEQ_LOG_RATIO_SUM,), value_meaningful=False, notes="value sg(w)Âℓ is a gradient device"),
    Method("masked_is_seq", "rollout_correction", "Masked IS, sequence level",
           "TRL vllm_importance_sampling_mode='sequence_mask' (its default)", masked_sequence_is,
           params=(Param("clip_min", 0.0, "lower bound C_min on Π_t r_t (0: none)", low=0.0, low_open=False,
                         symbol="C_min", source=_TRL_BOUNDS),
                   Param("clip_max", 3.0, "upper bound C on Π_t r_t", low=0.0, symbol="C", source=_TRL_BOUNDS)),
           extras=(SEQ_LOG_RATIO_SUM,), value_meaningful=False,
           notes="kept sequences are weighted by R = Π_t r_t; value sg(w)Âℓ is a gradient device"),
    Method("tis_seq_geo", "rollout_correction", "Truncated IS on the geometric-mean sequence ratio",
           "ms-swift rollout_importance_sampling_mode='sequence_truncate' (grpo_trainer.py "
           "_compute_sequence_level_ratios: 'geometric mean of token-level ratios')",
           truncated_sequence_is(SEQ_LOG_RATIO),
           params=(_SEQ_CLIP_MIN,
                   Param("clip_max", 2.0, "truncation C of the detached geometric-mean ratio", low=0.0, symbol="C",
                         source="ms-swift rollout_importance_sampling_threshold=2.0")),
           extras=(SEQ_LOG_RATIO,), value_meaningful=False, notes="value sg(w)Âℓ is a gradient device"),
    Method("masked_is_seq_geo", "rollout_correction", "Token IS under a geometric-mean sequence mask",
           "ms-swift rollout_importance_sampling_mode='sequence_mask'; SkyRL sequence_mask_metric='geometric'",
           masked_is_seq_geo,
           params=(Param("clip_min", 0.0, "lower bound C_min on exp(mean_t log r_t) (0: none)", low=0.0,
                         low_open=False, symbol="C_min", source="ms-swift masks from above only"),
                   Param("clip_max", 2.0, "upper bound C on exp(mean_t log r_t)", low=0.0, symbol="C",
                         source="ms-swift rollout_importance_sampling_threshold=2.0")),
           extras=(SEQ_LOG_RATIO,)),
    _rs_seq("seq_sum_k1", k1_band(SEQ_LOG_RATIO_SUM), SEQ_LOG_RATIO_SUM, _K1_PARAMS),
    _rs_seq("seq_mean_k1", k1_band(SEQ_LOG_RATIO), SEQ_LOG_RATIO, _K1_PARAMS),
    _rs_seq("seq_sum_k2", upper_bound(SEQ_SUM_K2), SEQ_SUM_K2, _rs_delta("bound on Σ_t ½ (log r_t)²")),
    _rs_seq("seq_mean_k2", upper_bound(SEQ_MEAN_K2), SEQ_MEAN_K2, _rs_delta("bound on mean_t ½ (log r_t)²")),
    _rs_seq("seq_max_k2", upper_bound(SEQ_MAX_K2), SEQ_MAX_K2, _rs_delta("bound on max_t ½ (log r_t)²")),
    _rs_seq("seq_sum_k3", upper_bound(SEQ_SUM_K3), SEQ_SUM_K3, _rs_delta("bound on Σ_t (r_t − 1 − log r_t)")),
    _rs_seq("seq_mean_k3", upper_bound(SEQ_MEAN_K3), SEQ_MEAN_K3, _rs_delta("bound on mean_t (r_t − 1 − log r_t)")),
    _rs_seq("seq_max_k3", upper_bound(SEQ_MAX_K3), SEQ_MAX_K3, _rs_delta("bound on max_t (r_t − 1 − log r_t)")),
)

METHODS = TOKEN_METHODS + SEQUENCE_METHODS
