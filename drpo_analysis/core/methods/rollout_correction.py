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

Sequence-level variants (TIS / masked IS on ``Π_t r_t``, verl's ``seq_*`` criteria) need
per-sequence statistics beyond the registry's per-token view and are not registered here.
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import Method, Param
from drpo_analysis.core.methods.divergence_mask import binary_kl


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


METHODS = (
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
