"""Conformance across the ecosystem: fuzz every installable framework's policy-loss, aggregation
and rollout-correction functions and write ``paper_repro/CONFORMANCE.md``, one matrix
(framework × function × check) on the fuzzer's verdict scale (:mod:`drpo_analysis.fuzz.verdict`).

Every :class:`Entry` names a framework function through its adapter (pinned version in the
adapter), the reference (our registry method, parameters, aggregation and the design choices
the framework documents, declared as oracle conventions and cited file:line), and
:class:`Declared` findings: a finding the framework's own code or docs explain as a deliberate
choice (``"design choice"``) or as an input outside its pipeline (``"edge case"``), each with its
citation. A declared finding matches narrowly (check, sub-check prefix, kind, and an optional bound
on the value it got), so a new behaviour of a new release is never absorbed by it.

Functions a framework ships that have no reference here are listed in :data:`NOT_CHECKED` with the
reason, so the matrix says what it does not cover.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from drpo_analysis.fuzz import adapters
from drpo_analysis.fuzz import verdict as _verdict
from drpo_analysis.fuzz.checks import CHECKS
from drpo_analysis.fuzz.runner import fuzz

DESIGN_CHOICE, EDGE = "design choice", _verdict.EDGE


@dataclass(frozen=True)
class Declared:
    """A finding the framework explains (module docstring)."""

    checks: tuple[str, ...]
    sub: str                    # sub-check prefix ("" = any)
    kind: str                   # finding kind prefix ("gradient mismatch", "non-finite", "raises", ...)
    severity: str               # DESIGN_CHOICE or EDGE
    reason: str                 # with the framework's file:line
    max_abs_got: float | None = None

    def matches(self, f) -> bool:
        if f.check not in self.checks or not f.sub_check.startswith(self.sub) or not f.kind.startswith(self.kind):
            return False
        return self.max_abs_got is None or (isinstance(f.got, (int, float)) and abs(f.got) <= self.max_abs_got)


@dataclass(frozen=True)
class Entry:
    framework: str
    label: str
    spec: str
    adapter: str
    options: dict = field(default_factory=dict)
    choices: str = ""           # the documented design choices declared to the reference, cited
    declared: tuple[Declared, ...] = ()
    words: str = ""             # the framework's own words where they disagree with its code
    impact: str = ""            # what a deviation means for a user: which runs, which settings


_EMPTY_MB = Declared(("padding",), "empty batch", "raises", EDGE,
                     "a micro-batch with no rows; the framework's batching never forms one")
_TV_TIE = "kink"
_VERL_RS_CLAMP = ("every token's log-ratio clamped ±20 (SAFETY_BOUND, rollout_corr_helper.py:75, :262) before the "
                  "sequence's k1 sum / mean (statistics_clamp)")

ENTRIES: tuple[Entry, ...] = (
    # -- verl 0.9.1 (verl/trainer/ppo/core_algos.py) --------------------------------------------------------
    Entry("verl", "verl vanilla (PPO + dual-clip)", "verl:vanilla", "verl",
          choices="log-ratio clamp ±20 (core_algos.py:1338); dual clip always on (clip_ratio_c, actor.py:163 default 3)"),
    Entry("verl", "verl vanilla, seq-mean-token-sum-norm, loss_scale_factor=16", "verl:vanilla", "verl",
          {"agg": "seq-mean-token-sum-norm", "horizon": 16},
          choices="clamp ±20; L_const = loss_scale_factor (core_algos.py:1163)"),
    Entry("verl", "verl vanilla, seq-mean-token-sum-norm, default loss_scale_factor (reference L_const=16)",
          "verl:vanilla", "verl", {"agg": "seq-mean-token-sum-norm", "horizon": 16, "loss_scale_factor": None},
          declared=(Declared(("gradient", "on_policy", "region_coverage", "aggregation", "stop_gradient", "dtype",
                              "padding", "overflow", "hyperparameters", "aggregation_modes"), "", "gradient mismatch",
                             DESIGN_CHOICE, "with loss_scale_factor unset verl divides by the padded width of the micro-batch, "
                             "as its docstring says (core_algos.py:1163: 'If None, uses loss_mask.shape[-1]. Set this "
                             "to a constant value to ensure consistent normalization'); the entry above conforms"),),
          impact="runs with loss_agg_mode=seq-mean-token-sum-norm and no loss_scale_factor: the effective "
                 "learning rate varies with the longest response of each micro-batch"),
    Entry("verl", "verl dppo_tv", "verl:dppo_tv", "verl",
          choices="IS truncated at clip_ratio_c (core_algos.py:1427), ActorConfig default 3 (actor.py:163); clamp ±20",
          words="core_algos.py:1424-1427: 'a large threshold is recommended to avoid performance degradation due "
                "to the truncation bias' and `config.get('clip_ratio_c', 20.0)`; but ActorConfig always has the "
                "field, default 3.0 (actor.py:163, documented there as 'Clipping ratio for critic loss'), so the "
                "fallback 20 is never used",
          impact="DPPO runs with default configs truncate the IS ratio at 3, not 20"),
    Entry("verl", "verl dppo_tv, clip_ratio_c=20", "verl:dppo_tv", "verl", {"clip_ratio_c": 20.0}),
    Entry("verl", "verl dppo_kl", "verl:dppo_kl", "verl"),
    Entry("verl", "verl gspo", "verl:gspo", "verl", {"agg": "seq-mean-token-mean"}),
    Entry("verl", "verl cispo", "verl:cispo", "verl"),
    Entry("verl", "verl gpg", "verl:gpg", "verl"),
    Entry("verl", "verl dro", "verl:dro", "verl"),
    Entry("verl", "verl rollout_rs=token_k1 (thresholds 0.5_2.0)", "verl:rollout_rs=token_k1", "verl"),
    Entry("verl", "verl rollout_rs=token_k2 (threshold 0.1)", "verl:rollout_rs=token_k2", "verl"),
    Entry("verl", "verl rollout_rs=seq_sum_k1 (thresholds 0.5_2.0)", "verl:rollout_rs=seq_sum_k1", "verl",
          choices=_VERL_RS_CLAMP),
    Entry("verl", "verl rollout_rs=seq_mean_k1 (thresholds 0.5_2.0)", "verl:rollout_rs=seq_mean_k1", "verl",
          choices=_VERL_RS_CLAMP),
    Entry("verl", "verl rollout_rs=seq_sum_k2 (threshold 0.1)", "verl:rollout_rs=seq_sum_k2", "verl"),
    Entry("verl", "verl rollout_rs=seq_mean_k2 (threshold 0.1)", "verl:rollout_rs=seq_mean_k2", "verl"),
    Entry("verl", "verl rollout_rs=seq_max_k2 (threshold 0.1)", "verl:rollout_rs=seq_max_k2", "verl"),
    Entry("verl", "verl rollout_rs=seq_sum_k3 (threshold 0.1)", "verl:rollout_rs=seq_sum_k3", "verl"),
    Entry("verl", "verl rollout_rs=seq_mean_k3 (threshold 0.1)", "verl:rollout_rs=seq_mean_k3", "verl"),
    Entry("verl", "verl rollout_rs=seq_max_k3 (threshold 0.1)", "verl:rollout_rs=seq_max_k3", "verl"),
    Entry("verl", "verl rollout_is=token (TIS, threshold 2)", "verl:rollout_is=token", "verl",
          choices="weights on log r = old − rollout with old = current, clamped ±20 (rollout_corr_helper.py:575), "
                  "multiplying the vanilla loss (core_algos.py:1365)"),
    Entry("verl", "verl rollout_is=sequence (sequence TIS, threshold 2)", "verl:rollout_is=sequence", "verl",
          choices="verl's default rollout correction (trainer/config/algorithm.py:179); one weight min(exp(Σ_t log r_t), 2) per sequence, the sum clamped ±20 before exp "
                  "(rollout_corr_helper.py:585), old = current, multiplying the vanilla loss (core_algos.py:1365)"),
    Entry("verl", "verl rollout_is=sequence, threshold 0.5_2.0 (sequence IcePop)", "verl:rollout_is=sequence", "verl",
          {"method": "masked_is_seq", "params": {"clip_min": 0.5, "clip_max": 2.0}},
          choices="weight exp(Σ_t log r_t) (sum clamped ±20) kept inside [0.5, 2], zero outside "
                  "(rollout_corr_helper.py:596)",
          impact="a batch in which every sequence falls outside the band raises ZeroDivisionError in the "
                 "effective-sample-size metric (rollout_corr_helper.py:758: 1.0 / masked_mean(0)), so the step "
                 "crashes instead of contributing zero gradient; verl computes the weights on the whole step's "
                 "batch, so it needs every sequence rejected, which a band on Π_t r_t makes likely for long "
                 "responses or a biased rollout engine"),
    # -- TRL 1.16.0 (trl/trainer/grpo_trainer.py) -------------------------------------------------------------
    Entry("TRL", "TRL GRPO loss_type=grpo", "trl:grpo", "trl"),
    Entry("TRL", "TRL GRPO loss_type=bnpo", "trl:bnpo", "trl",
          declared=(Declared(("aggregation",), "", "gradient mismatch", DESIGN_CHOICE,
                             "bnpo normalises by the tokens of each micro-batch (TRL documents it as the local batch's "
                             "token count); dapo is the global-count variant and conforms"),),
          impact="bnpo with gradient accumulation or several ranks: micro-batches with fewer tokens weigh more"),
    Entry("TRL", "TRL GRPO loss_type=dr_grpo", "trl:dr_grpo", "trl"),
    Entry("TRL", "TRL GRPO loss_type=dapo", "trl:dapo", "trl"),
    Entry("TRL", "TRL GRPO loss_type=cispo", "trl:cispo", "trl"),
    Entry("TRL", "TRL GRPO grpo + delta=3 (two-sided clipping)", "trl:grpo", "trl", {"delta": 3.0}),
    Entry("TRL", "TRL GRPO grpo, importance_sampling_level=sequence (GSPO)", "trl:grpo", "trl", {"level": "sequence"}),
    Entry("TRL", "TRL GRPO vllm_importance_sampling_mode=token_truncate (clip_max 3)", "trl:grpo", "trl",
          {"vllm_is_mode": "token_truncate"},
          choices="IS weight min(π_old/π_vLLM, C_max) (grpo_trainer.py:2681) with C_min = None (no lower bound, "
                  "the default) and old = current, computed in _generate_and_score_completions and multiplied into "
                  "the per-token loss (grpo_trainer.py:3147); a NaN sampling logprob gives weight 1 "
                  "(grpo_trainer.py:2665; tests/test_fuzz_peers.py pins it)",
          words="GRPOConfig's list of modes calls token_truncate the default (grpo_config.py:331); the field's "
                "default, and the same docstring four lines above, say sequence_mask (grpo_config.py:327, :935)",
          impact="runs that leave vllm_importance_sampling_mode unset get sequence-level masking at C_max = 3, not "
                 "the token truncation the mode list calls the default"),
    Entry("TRL", "TRL GRPO vllm_importance_sampling_mode=token_mask (clip_max 3)", "trl:grpo", "trl",
          {"vllm_is_mode": "token_mask"},
          choices="IS weight r where C_min ≤ r ≤ C_max, else 0 (grpo_trainer.py:2698), C_min = None read as no "
                  "lower bound (the reference's C_min = 0); old = current; a NaN sampling logprob gives weight 1 "
                  "(grpo_trainer.py:2665)"),
    Entry("TRL", "TRL GRPO vllm_importance_sampling_mode=sequence_truncate (clip_max 3)", "trl:grpo", "trl",
          {"vllm_is_mode": "sequence_truncate"},
          choices="sequence weight min(R, C_max) with R = exp(Σ_t (ℓ_old − ℓ_vLLM)) over the completion's loss tokens "
                  "(grpo_trainer.py:2669), broadcast to its tokens; C_min = None (no lower bound), old = current; a "
                  "token with a NaN sampling logprob is left out of R (grpo_trainer.py:2665)"),
    Entry("TRL", "TRL GRPO vllm_importance_sampling_mode=sequence_mask (the default; clip_max 3)", "trl:grpo", "trl",
          {"vllm_is_mode": "sequence_mask"},
          choices="sequence weight R where C_min ≤ R ≤ C_max, else 0 (grpo_trainer.py:2698), R = exp(Σ_t (ℓ_old − "
                  "ℓ_vLLM)) (grpo_trainer.py:2669), C_min = None read as no lower bound; old = current; a token with "
                  "a NaN sampling logprob is left out of R (grpo_trainer.py:2665)",
          impact="the default mode: the weight is the product of the completion's token ratios, so it spreads with "
                 "completion length; a completion is dropped whole when the product exceeds 3 and kept at the "
                 "product's weight, however small, below (no lower bound unless clip_min is set)"),
    # -- OpenRLHF 0.11.2 (openrlhf/models/loss.py) ----------------------------------------------------------------
    Entry("OpenRLHF", "OpenRLHF PolicyLoss ppo", "openrlhf:ppo", "openrlhf", choices="log-ratio clamp ±20"),
    Entry("OpenRLHF", "OpenRLHF PolicyLoss ppo, dual_clip=3", "openrlhf:ppo", "openrlhf", {"method": "dual_clip"},
          choices="log-ratio clamp ±20"),
    Entry("OpenRLHF", "OpenRLHF PolicyLoss gspo", "openrlhf:gspo", "openrlhf"),
    # -- AReaL 1.0.4 (areal/utils/functional/functional.py) ------------------------------------------------------
    Entry("AReaL", "AReaL ppo_actor_loss_fn", "areal:ppo", "areal",
          impact="only at |ℓ − ℓ_prox| > 88 (π/π_prox beyond float32): a NaN gradient for Â > 0 there; AReaL "
                 "applies no log-ratio clamp (functional.py:509), unlike verl, OpenRLHF and SkyRL (±20)"),
    Entry("AReaL", "AReaL ppo_actor_loss_fn, c_clip=3 (dual clip)", "areal:ppo", "areal", {"method": "dual_clip"},
          impact="as above"),
    Entry("AReaL", "AReaL ppo_actor_loss_fn, importance_sampling_level=sequence (GSPO)", "areal:gspo", "areal",
          {"params": {"eps_low": 3e-4, "eps_high": 4e-4}},
          choices="advantages averaged per sequence (functional.py:75: 'We use mean instead of sum')"),
    Entry("AReaL", "AReaL rejection_sampling token clamp (truncated IS, upper=2)", "areal:tis", "areal",
          choices="behaviour weight min(π_prox/π_behave, upper), proximal = current (functional.py:397)"),
    Entry("AReaL", "AReaL rejection_sampling token mask (masked IS, upper=3)", "areal:mis", "areal",
          choices="tokens with π_prox/π_behave > upper leave loss_mask, the token mean keeps the original count "
                  "(functional.py:483), kept tokens weighted by the ratio; proximal = current"),
    Entry("AReaL", "AReaL rejection_sampling sequence clamp (agg mean, upper=2)", "areal:tis_seq", "areal",
          choices="the sequence's uniform weight is the geometric mean of its ratios, aggregated in log space "
                  "(functional.py:355, 'to match GSPO semantics'), clamped when out of bounds; proximal = current"),
    Entry("AReaL", "AReaL rejection_sampling sequence mask (agg mean, upper=2)", "areal:mis_seq", "areal",
          choices="sequences whose geometric-mean ratio leaves the bounds drop out of loss_mask (the token mean "
                  "keeps the original count), kept sequences weighted by the geometric mean (functional.py:355); "
                  "proximal = current"),
    # -- SkyRL 0.3.0 (skyrl/backends/skyrl_train/utils/ppo_utils.py) ---------------------------------------------
    Entry("SkyRL", "SkyRL regular (PPO), token_mean", "skyrl:regular", "skyrl",
          {"params": {"eps_low": 0.2, "eps_high": 0.2}}, choices="log-ratio clamp ±20 (safe_exp_delta, ppo_utils.py:566)"),
    Entry("SkyRL", "SkyRL regular (PPO), sequence_mean", "skyrl:regular", "skyrl",
          {"params": {"eps_low": 0.2, "eps_high": 0.2}, "reduction": "sequence_mean"}, choices="clamp ±20"),
    Entry("SkyRL", "SkyRL regular (PPO), seq_mean_token_sum_norm, max_seq_len=16", "skyrl:regular", "skyrl",
          {"params": {"eps_low": 0.2, "eps_high": 0.2}, "reduction": "seq_mean_token_sum_norm"}, choices="clamp ±20"),
    Entry("SkyRL", "SkyRL dual_clip", "skyrl:dual_clip", "skyrl",
          {"params": {"eps_low": 0.2, "eps_high": 0.2, "dual_clip_c": 3.0}}, choices="clamp ±20"),
    Entry("SkyRL", "SkyRL gspo, sequence_mean", "skyrl:gspo", "skyrl", {"reduction": "sequence_mean"},
          choices="token log-weight clamped at +10 (ppo_utils.py:708)"),
    Entry("SkyRL", "SkyRL cispo (defaults: cispo_eps_clip_low=0, high=5)", "skyrl:cispo", "skyrl",
          {"params": {"clip_min": 1.0, "clip_max": 6.0}},
          choices="IS weight clamped to [1 − low, 1 + high] = [1, 6] (config.py:543); clamp ±20",
          words="config.py:544 calls cispo_eps_clip_low an 'offset for lower bound'; its default 0.0 puts the "
                "lower bound at 1, so every token with r < 1 is weighted 1 instead of r (CISPO, arXiv 2506.13585, "
                "has no effective lower bound)",
          impact="cispo runs with default config: tokens whose probability fell since sampling get weight 1 "
                 "(the reference with clip_min = 1 conforms; set cispo_eps_clip_low = 1 for no lower bound)"),
    Entry("SkyRL", "SkyRL dppo binary_tv (delta 0.2)", "skyrl:dppo_tv", "skyrl",
          {"params": {"delta_low": 0.2, "delta_high": 0.2}}, choices="clamp ±20 on the ratio"),
    Entry("SkyRL", "SkyRL dppo binary_kl (delta 0.05)", "skyrl:dppo_kl", "skyrl",
          {"params": {"delta_low": 0.05, "delta_high": 0.05}}, choices="clamp ±20 on the ratio"),
    Entry("SkyRL", "SkyRL importance_sampling", "skyrl:importance_sampling", "skyrl",
          impact="only at |ℓ − ℓ_μ| > 88: no clamp before exp (ppo_utils.py:1071), unlike SkyRL's other losses"),
    Entry("SkyRL", "SkyRL off_policy_correction tis_ratio_type=token (cap 2)", "skyrl:tis", "skyrl",
          choices="TIS weight min(π_old/π_rollout, cap) with old = current; the weight's log-ratio clamped ±20 "
                  "(off_policy_correction_utils.py:51)",
          declared=(_EMPTY_MB,)),
    Entry("SkyRL", "SkyRL off_policy_correction token mask [0.5, 2] + token TIS (cap 2)", "skyrl:token_mask", "skyrl",
          {"params": {"clip_min": 0.5, "clip_max": 2.0}},
          choices="token_mask_is_threshold_low/high with the TIS cap at the upper threshold, as compute_token_mask's "
                  "docstring advises for IS-corrected masking (off_policy_correction_utils.py:153)",
          declared=(_EMPTY_MB,)),
    Entry("SkyRL", "SkyRL rollout_is (eps_clip 0.2)", "skyrl:rollout_is", "skyrl",
          {"params": {"clip_min": 0.8, "clip_max": 1.2}},
          choices="ratio to the rollout log-probs, zeroed outside (1 − eps_clip_low, 1 + eps_clip_high) "
                  "(ppo_utils.py:793); value −sg(w)·Â·ℓ"),
    Entry("SkyRL", "SkyRL off_policy_correction tis_ratio_type=sequence (cap 5)", "skyrl:tis_seq", "skyrl",
          {"params": {"clip_max": 5.0}},
          choices="one weight min(exp(Σ_t log r_t), cap) per sequence, the sum clamped ±20 in log space "
                  "(off_policy_correction_utils.py:64), old = current", declared=(_EMPTY_MB,)),
    Entry("SkyRL", "SkyRL off_policy_correction product sequence mask [0.5, 2] + sequence TIS (cap 2)",
          "skyrl:product_mask", "skyrl", {"params": {"clip_min": 0.5, "clip_max": 2.0}},
          choices="sequence_mask_metric=product (off_policy_correction_utils.py:240) at its default bounds, with the "
                  "sequence TIS cap at the upper bound so a kept sequence is weighted by its own Π_t r_t",
          declared=(_EMPTY_MB,)),
    # -- ms-swift 4.6.0 (swift/rlhf_trainers/grpo_trainer.py, GRPOTrainer._compute_loss_and_metrics) ----------------
    Entry("ms-swift", "ms-swift GRPO loss_type=grpo", "swift:grpo", "swift"),
    Entry("ms-swift", "ms-swift GRPO loss_type=bnpo", "swift:bnpo", "swift",
          declared=(Declared(("aggregation",), "", "gradient mismatch", DESIGN_CHOICE,
                             "bnpo divides by the completion tokens of the current micro-batch; grpo_trainer.py:79 "
                             "names the window-normalised types (cispo, dapo, fipo) as the ones that use the whole "
                             "accumulation window"),),
          impact="bnpo with gradient accumulation or several ranks: micro-batches with fewer tokens weigh more"),
    Entry("ms-swift", "ms-swift GRPO loss_type=dr_grpo", "swift:dr_grpo", "swift"),
    Entry("ms-swift", "ms-swift GRPO loss_type=dapo", "swift:dapo", "swift"),
    Entry("ms-swift", "ms-swift GRPO loss_type=cispo", "swift:cispo", "swift",
          choices="IS weight clamped from above only, at epsilon_high as an absolute value (grpo_trainer.py:1037)"),
    Entry("ms-swift", "ms-swift GRPO grpo + delta=3 (two-sided clipping)", "swift:grpo", "swift", {"delta": 3.0},
          choices="ratio clamped at delta before the PPO min (grpo_trainer.py:1054)"),
    Entry("ms-swift", "ms-swift GRPO grpo, importance_sampling_level=sequence (GSPO)", "swift:grpo", "swift",
          {"level": "sequence", "params": {"eps_low": 3e-4, "eps_high": 4e-4}}),
    Entry("ms-swift", "ms-swift GRPO grpo, importance_sampling_level=sequence_token (GSPO-token)", "swift:grpo",
          "swift", {"level": "sequence_token", "params": {"eps_low": 3e-4, "eps_high": 4e-4}}),
    Entry("ms-swift", "ms-swift GRPO rollout_importance_sampling_mode=token_mask (threshold 3)", "swift:grpo",
          "swift", {"rollout_mode": "token_mask", "params": {"clip_max": 3.0}},
          choices="IS weight r where r ≤ threshold, else 0 (grpo_trainer.py:2374), old = current; log-ratio "
                  "clamped ±20 (grpo_trainer.py:2362)", declared=(_EMPTY_MB,)),
    Entry("ms-swift", "ms-swift GRPO rollout_importance_sampling_mode=token_truncate (threshold 2)", "swift:grpo",
          "swift", {"rollout_mode": "token_truncate"},
          choices="IS weight min(π_old/π_rollout, threshold), old = current; log-ratio clamped ±20 "
                  "(grpo_trainer.py:2362)",
          declared=(Declared(("padding",), "empty batch", "raises", EDGE,
                             "a micro-batch with no rows: the rollout metrics' .max() (grpo_trainer.py:2523) raises; "
                             "the Trainer's batching never forms one"),)),
    Entry("ms-swift", "ms-swift GRPO rollout_importance_sampling_mode=sequence_truncate (threshold 2)", "swift:grpo",
          "swift", {"rollout_mode": "sequence_truncate"},
          choices="the sequence ratio is the geometric mean of the token ratios (_compute_sequence_level_ratios, "
                  "grpo_trainer.py:2328: 'geometric mean of token-level ratios'), not TRL's / verl's product; "
                  "truncated from above (:2379); every token's log-ratio clamped ±20 before the mean "
                  "(grpo_trainer.py:2363, statistics_clamp); old = current", declared=(_EMPTY_MB,)),
    Entry("ms-swift", "ms-swift GRPO rollout_importance_sampling_mode=sequence_mask (threshold 2)", "swift:grpo",
          "swift", {"rollout_mode": "sequence_mask"},
          choices="each token keeps its own ratio r_t (is_ratio * seq_mask, grpo_trainer.py:2389) when the "
                  "sequence's geometric-mean ratio is ≤ threshold; every token's log-ratio clamped ±20 before exp "
                  "and the mean (grpo_trainer.py:2363: statistics_clamp, and the kept weight min(r, e^20): "
                  "is_truncation); old = current", declared=(_EMPTY_MB,)),
    # -- ART 0.5.18 (openpipe-art, art/loss.py) ------------------------------------------------------------------
    Entry("ART", "ART loss_fn default (CISPO-style, epsilon 1, epsilon_high 4)", "art:cispo", "art",
          {"params": {"clip_min": 0.0, "clip_max": 5.0}},
          choices="clip(sg(r), 1 − epsilon, 1 + epsilon_high)·Â·ℓ with epsilon 1, epsilon_high 4 when ppo is off "
                  "(loss.py:77, 'Modified REINFORCE or ... CISPO', loss.py:111)",
          words="dev/train.py:27 names the option max_negative_advantage_importance_sampling_weight, but "
                "loss.py:83-88 clamps the ratio of every token: with it at 2, a token with Â = +1 and r = 3 gets "
                "gradient weight 2 instead of 3 (tests/test_fuzz_ecosystem.py pins this)",
          impact="runs that set max_negative_advantage_importance_sampling_weight truncate positive-advantage "
                 "tokens too"),
    Entry("ART", "ART loss_fn ppo=True (epsilon 0.2)", "art:ppo", "art", {"params": {"eps_low": 0.2, "eps_high": 0.2}}),
    Entry("ART", "ART loss_fn ppo=True, importance_sampling_level=sequence (GSPO)", "art:gspo", "art",
          {"params": {"eps_low": 3e-4, "eps_high": 4e-4}},
          choices="sequence ratio of the mean log-ratio, gradient through the mean (loss.py:60)"),
    Entry("ART", "ART loss_fn mask_prob_ratio (masked IS, epsilon_high 4)", "art:mis", "art",
          {"params": {"clip_max": 5.0}},
          choices="ratio zeroed outside (1 − epsilon, 1 + epsilon_high) before the clip (loss.py:89), epsilon 1"),
    # -- torchtune 0.6.1 (torchtune/rlhf/loss/ppo.py) -------------------------------------------------------------
    Entry("torchtune", "torchtune PPOLoss (epsilon 0.2)", "torchtune:ppo", "torchtune",
          {"params": {"eps_low": 0.2, "eps_high": 0.2}},
          words="recipes/ppo_full_finetune_single_device.py:66: gradient accumulation lets you 'simulate larger "
                "ppo_batch_size'; each micro-batch is a token mean of its own tokens divided by "
                "gradient_accumulation_steps (:1118), which equals the large batch's token mean only when every "
                "micro-batch has the same number of response tokens",
          impact="PPO runs with gradient_accumulation_steps > 1: tokens of short-response micro-batches weigh "
                 "more; and at |ℓ − ℓ_old| > 88 a NaN gradient (no clamp, ppo.py:79)"),
)

#: (framework, function, why it is not in the matrix)
NOT_CHECKED = (
    ("verl", "policy_loss modes sapo, clip_cov, kl_cov, geo_mean, bypass_mode; compute_policy_loss_reinforce",
     "no SAPO / GMPO reference in the registry; covariance-selected tokens (clip_cov, kl_cov) have no per-token "
     "reference; bypass_mode and reinforce are rollout-correction compositions not wired yet"),
    ("verl", "rollout_rs=token_k3", "slow, not failing: the hyperparameter sweep of rs_token_k3 re-derives "
     "transcendental kinks for every drawn δ (over 2 min at 12 examples here); tests/test_fuzz_peers.py fuzzes "
     "it at 6 examples (about 1 min)"),
    ("verl", "rollout_rs chains of several options; rollout_is_batch_normalize",
     "each criterion has its row; a chain is the product of their masks. Batch normalisation divides the weights "
     "by their batch mean, a batch-level factor the per-token reference does not model"),
    ("TRL", "GRPO loss_type sapo, luspo, vespo; vllm_importance_sampling_mode=token_truncate with clip_min set",
     "no SAPO / LUSPO / VESPO reference in the registry; tis_token truncates from above only (the rows above run "
     "TRL's default, clip_min None)"),
    ("TRL", "vllm_importance_sampling_clip_max=None (documented: 'mask ratios below C_min without upper bound')",
     "no finite reference bound; found: a sequence whose summed log-ratio passes float32's exp range (88.7) gets "
     "weight inf (grpo_trainer.py:2674), and with Â = 0 (a group whose rewards are all equal) the loss is NaN "
     "(tests/test_fuzz_peers.py pins it)"),
    ("AReaL", "sapo_loss_fn", "no SAPO reference in the registry yet (soft sigmoid gate, arXiv 2511.20347)"),
    ("AReaL", "rejection_sampling level=sequence with agg sum / max; metrics kl_k1/kl_k2/kl_k3",
     "agg sum / max decide on the product / the largest ratio but weight the sequence by its geometric mean: no "
     "reference has that mix; the KL-metric masks are not wired in the adapter"),
    ("SkyRL", "sapo_policy_loss", "no SAPO reference in the registry yet"),
    ("SkyRL", "compute_policy_loss_clip_cov, compute_policy_loss_kl_cov",
     "covariance-selected tokens (clip_cov draws them with torch.randperm): no per-token reference"),
    ("SkyRL", "cross_entropy_loss", "supervised −log π sum, not a policy-gradient loss"),
    ("SkyRL", "off_policy_correction geometric sequence mask; outlier-token sequence masks",
     "SkyRL applies these masks to the loss mask and leaves the IS weight to TIS: with token TIS capped, the "
     "geometric mask gives min(r_t, cap)·M, which equals geo_seq_mask only without a cap; the outlier mask "
     "(reject a sequence holding any token outside the bounds) has no reference yet"),
    ("SkyRL", "loss_reduction prompt_mean, token_mean_legacy", "not wired in the adapter yet"),
    ("ART", "importance_sampling_level average / geometric_average; truncated_importance_sampling; kimi_k2_tau; "
     "kl_penalty_coef", "mixtures of token and sequence ratios and a TIS factor on the PPO ratio itself: no "
     "reference; advantage shaping (kimi_k2_tau, KL penalty) is outside the policy-loss reference"),
    ("ms-swift", "loss_type=sapo", "no SAPO reference in the registry yet"),
    ("ms-swift", "loss_type=fipo, loss_type=real", "future-KL influence weights (fipo) and a group ranking loss "
     "(real): no per-token reference"),
    ("ms-swift", "off_policy_sequence_mask_delta",
     "DeepSeek-V3.2's sequence mask keyed on the sign of Â and the mean log-ratio: no reference yet"),
    ("ms-swift", "swift/ray/megatron/loss/grpo.py, swift/megatron/trainers/grpo_trainer.py",
     "the Megatron trainer's loss_func (needs Megatron-LM, GPU only)"),
    ("ms-swift", "swift/rl_core/grpo_algorithm.py", "reward scoring and dynamic-sampling statistics, no policy loss"),
)


#: (distribution, what was found) for the other RL packages looked at on the package index
LOOKED_AT = (
    ("oat-llm", "no distribution on the package index reachable here"),
    ("realhf", "no distribution could be downloaded from the package index reachable here"),
    ("verifiers 0.4.0", "environments, rollouts and tracing; no policy-gradient loss in the wheel"),
    ("nemo-rl 0.0.0", "a placeholder wheel (package metadata only)"),
    ("skyrl 0.4.0", "not on the index reachable here (0.3.0 is its newest SkyRL)"),
)


def _adjust(findings, entry: Entry):
    """(findings with declared severities, {reason: count} of the design choices that absorbed some)."""
    out, absorbed = [], {}
    for f in findings:
        d = next((d for d in entry.declared if d.matches(f)), None)
        if d is None:
            out.append(f)
        elif d.severity == DESIGN_CHOICE:
            absorbed[d.reason] = absorbed.get(d.reason, 0) + 1
        else:
            out.append(replace(f, severity=EDGE, explanation=d.reason))
    return out, absorbed


def run_entry(entry: Entry, *, seed: int = 0, examples: int = 24) -> dict:
    """Fuzz one entry and judge it on the verdict scale (declared findings applied)."""
    opts = dict(entry.options)
    method = opts.pop("method", None)
    row = {"framework": entry.framework, "label": entry.label, "target": entry.spec, "adapter": entry.adapter,
           "options": entry.options, **_prose(entry)}
    try:
        t = adapters.load(entry.spec, adapter=entry.adapter, method=method, **opts)
    except ImportError as exc:
        return {**row, "status": "not installed", "error": str(exc), "checks": {}, "findings": []}
    rep = fuzz(t, seed=seed, examples=examples)
    findings, absorbed = _adjust(rep.findings, entry)
    declared = {**rep.declared, **({"declared findings": absorbed} if absorbed else {})}
    cells = {c["name"]: ("skipped" if c["status"] == "skipped" else "ok") for c in rep.checks}
    for f in rep.findings:
        if f not in findings:
            cells[f.check] = "declared" if cells[f.check] == "ok" else cells[f.check]
    for f in findings:
        cells[f.check] = "DEVIATES" if f.severity == _verdict.DEVIATES or cells[f.check] == "DEVIATES" else "edge"
    return {**row, "method": t.method, "params": t.params, "agg": t.conventions.agg, "declared": declared,
            "status": _verdict.verdict(findings, declared, rep.checks), "checks": cells, "notes": rep.notes,
            "absorbed": absorbed, "findings": [f.as_dict() for f in findings]}


def run(out: Path | None = Path("paper_repro/CONFORMANCE.md"), *, seed: int = 0, examples: int = 24,
        progress: bool = True, entries=ENTRIES, only: tuple[str, ...] = ()) -> dict:
    """Fuzz every entry, write ``out`` (markdown) and ``out.json``. ``only``: re-run just the entries
    whose label contains one of these strings (and entries ``out.json`` lacks); the other rows are
    taken from ``out.json`` (which must have been written with the same seed and examples), their
    prose (choices, words, impact) from the entries."""
    from tqdm import tqdm

    kept = _previous_rows(out, seed, examples) if only else {}
    todo = [e for e in entries if e.label not in kept or any(s in e.label for s in only)]
    fresh = {e.label: run_entry(e, seed=seed, examples=examples)
             for e in tqdm(todo, desc="conformance", disable=not progress, leave=False)}
    rows = [fresh.get(e.label) or {**kept[e.label], **_prose(e)} for e in entries]
    res = {"seed": seed, "examples": examples, "versions": versions(), "entries": rows}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(res))
        out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    return res


def _prose(entry: Entry) -> dict:
    """The text fields of a row, which come from the entry, not from fuzzing."""
    return {"choices": entry.choices, "words": entry.words, "impact": entry.impact}


class PreviousMatrixError(ValueError):
    """A partial re-run cannot use the matrix written before (missing, other seed or examples)."""


def _previous_rows(out: Path | None, seed: int, examples: int) -> dict:
    """{label: row} of the matrix already written to ``out.json`` (for a partial re-run)."""
    path = None if out is None else Path(out).with_suffix(".json")
    if path is None or not path.exists():
        raise PreviousMatrixError(f"a partial re-run (only) needs the previous matrix, but {path} does not exist")
    prev = json.loads(path.read_text())
    if (prev["seed"], prev["examples"]) != (seed, examples):
        raise PreviousMatrixError(f"{path} was written with seed {prev['seed']} and {prev['examples']} examples; re-run "
                         f"only some entries with the same (got seed {seed}, {examples} examples)")
    return {r["label"]: r for r in prev["entries"]}


#: distribution name → the version the adapters are written against
PINNED = {"verl": "0.9.1", "trl": "1.16.0", "openrlhf": "0.11.2", "areal": "1.0.4", "skyrl": "0.3.0",
          "torchtune": "0.6.1", "ms-swift": "4.6.0", "openpipe-art": "0.5.18"}


def versions() -> dict:
    from drpo_analysis.fuzz.adapters.bypath import installed_version
    return {pkg: installed_version(pkg) or "not installed" for pkg in (*PINNED, "torch")}


def summary_text(res: dict) -> str:
    from drpo_analysis.util.tables import format_table
    rows = [{"framework": r["framework"], "entry": r["label"], "method": r.get("method", "-"), "verdict": r["status"],
             "findings": ", ".join(f"{f['check']}/{f['sub_check']}:{f['severity']}" for f in r["findings"])}
            for r in res["entries"]]
    return format_table(rows, ["framework", "entry", "method", "verdict", "findings"], max_width=90)


def counts(res: dict) -> dict:
    """{verdict: number of entries} over the run."""
    out: dict = {}
    for r in res["entries"]:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def markdown(res: dict) -> str:
    v = res["versions"]
    checks = list(CHECKS)
    lines = [
        "# Conformance of framework policy losses to the analytic reference",
        "",
        f"Generated by `drpo-analysis fuzz --conformance --seed {res['seed']} --examples {res['examples']}` "
        f"(`make conformance`) on {_dt.date.today().isoformat()} with "
        + ", ".join(f"{k} {val}" for k, val in v.items()) + ". Do not edit by hand.",
        "",
        "Each function is driven through its adapter (`drpo_analysis/fuzz/adapters/`, the framework's file loaded "
        "by path where its package imports GPU stacks) and compared with a registry method: ∂loss/∂ℓ per token "
        "against −a·∂J/∂ℓ (a = aggregation weight) and the value, on every check of the fuzzer. The design "
        "choices a framework documents are declared to the reference (log-ratio clamp, truncated IS, surrogate "
        "value, …) and cited; findings the framework's own code explains are declared per entry, narrowly "
        "(check, sub-check, kind), with the citation.",
        "",
        "Verdicts: **conforms** · **conforms with declared design choices** · **edge cases only** (inputs outside "
        "any real pipeline: ±inf/NaN or positive 'log-probs' in padding, a batch with no rows, π = 0) · "
        "**deviates** (wrong on inputs real training can produce, including a NaN/inf loss or gradient on an "
        "all-masked micro-batch, which a user hits whenever a micro-batch holds no response tokens: overlong "
        "filtering, dynamic batching; the check is named) · **error** (a check could not run). "
        "Cells: ok · declared · edge · DEVIATES · skipped.",
        "",
        "## The matrix",
        "",
        "| framework | function (entry) | reference | " + " | ".join(checks) + " | verdict |",
        "|---|---|---|" + "---|" * len(checks) + "---|",
    ]
    for r in res["entries"]:
        if "method" not in r:
            lines.append(f"| {r['framework']} | {r['label']} | – | " + " | ".join("–" for _ in checks)
                         + f" | {r['status']} |")
            continue
        ps = ", ".join(f"{k}={g:g}" for k, g in r["params"].items()) or "–"
        lines.append(f"| {r['framework']} | {r['label']} | `{r['method']}` ({ps}), {r['agg']} | "
                     + " | ".join(r["checks"].get(c, "–") for c in checks) + f" | **{r['status']}** |")
    tally = counts(res)
    lines += ["", "Entries by verdict: " + ", ".join(f"{k}: {n}" for k, n in sorted(tally.items())) + ".", "",
              "## Declared design choices and the framework's own words", ""]
    for r in res["entries"]:
        parts = [p for p in (r.get("choices") and f"declared: {r['choices']}",
                             *(f"explained finding ({n}×): {why}" for why, n in r.get("absorbed", {}).items()),
                             r.get("words") and f"the framework says: {r['words']}",
                             r.get("impact") and f"for users: {r['impact']}") if p]
        if parts:
            lines += [f"- **{r['label']}**: " + "; ".join(parts) + "."]
    lines += ["", "## Deviations (shrunk reproducers)", ""]
    for r in res["entries"]:
        for f in r.get("findings", []):
            if f["severity"] != _verdict.DEVIATES:
                continue
            lines += [f"### {r['label']}: {f['check']} / {f['sub_check']}", "",
                      f"{f['kind']}: {f['message']}. Expected {f['expected']!r}, got {f['got']!r}.", "",
                      f"Likely fix: {f['fix']}.", "", "```python", f["reproducer"], "```", ""]
    lines += ["## Edge cases", "",
              "Inputs outside any real pipeline; the reproducers are in `CONFORMANCE.json`.", "",
              "| entry | check / sub-check | why it is an edge case |", "|---|---|---|"]
    for r in res["entries"]:
        for f in r.get("findings", []):
            if f["severity"] != _verdict.DEVIATES:
                lines.append(f"| {r['label']} | {f['check']} / {f['sub_check']} | {f['explanation']} |")
    lines.append("")
    lines += ["## Shipped but not in the matrix", "", "| framework | function | why |", "|---|---|---|",
              *(f"| {fw} | {fn} | {why} |" for fw, fn, why in NOT_CHECKED), "",
              "Also looked at: " + "; ".join(f"{d} ({why})" for d, why in LOOKED_AT) + ".", ""]
    return "\n".join(lines)
