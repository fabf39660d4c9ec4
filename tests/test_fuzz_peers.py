"""Adapters against the real frameworks (the `peers` extra; `make test` installs them)."""
import importlib.util
import json
import math

import pytest

from drpo_analysis.fuzz import adapters, fuzz
from drpo_analysis.fuzz.adapters import plain

CORE = ["gradient", "on_policy", "region_coverage", "aggregation"]


def _need(pkg):
    if importlib.util.find_spec(pkg) is None:
        pytest.skip(f"{pkg} is not installed (make test installs the peers extra)")


@pytest.mark.parametrize("mode", ["vanilla", "dppo_tv", "dppo_kl", "gspo", "cispo", "gpg", "dro"])
def test_verl_modes_conform_on_core_checks(mode):
    _need("verl")
    opts = {"agg": "seq-mean-token-mean"} if mode == "gspo" else {}
    rep = fuzz(adapters.load(f"verl:{mode}", adapter="verl", **opts), seed=1, examples=6,
               checks=["on_policy", "aggregation"] + (["gradient"] if mode not in ("vanilla",) else []))
    assert rep.ok, rep.text()


def test_verl_params_are_translated():
    _need("verl")
    t = adapters.load("verl:dppo_tv", adapter="verl", method="dppo_binary_tv", params={"delta_low": 0.1})
    assert t.params == {"delta_low": 0.1, "delta_high": 0.15} and t.conventions.is_truncation == 3.0
    # verl always dual-clips: against plain PPO the fuzzer reports it
    rep = fuzz(adapters.load("verl:vanilla", adapter="verl", method="ppo_clip"), seed=0, examples=12,
               checks=["region_coverage"])
    assert not rep.ok


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo", "cispo"])
def test_trl_loss_types_conform_on_core_checks(loss_type):
    _need("trl")
    checks = [c for c in CORE if not (loss_type == "bnpo" and c == "aggregation")]
    rep = fuzz(adapters.load(f"trl:{loss_type}", adapter="trl"), seed=1, examples=6, checks=checks)
    assert rep.ok, rep.text()


def test_trl_bnpo_depends_on_the_micro_batch_split():
    _need("trl")   # bnpo: token mean of each micro-batch / gradient_accumulation_steps (documented)
    rep = fuzz(adapters.load("trl:bnpo", adapter="trl"), seed=1, examples=6, checks=["aggregation"])
    assert not rep.ok and rep.findings[0].counterexample.get("shards")


def test_trl_sequence_level_is_gspo():
    _need("trl")
    rep = fuzz(adapters.load("trl:grpo", adapter="trl", level="sequence"), seed=0, examples=6, checks=CORE)
    assert rep.ok, rep.text()


VLLM_IS_MODES = ["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"]


@pytest.mark.parametrize("mode", VLLM_IS_MODES)
def test_trl_vllm_importance_sampling_conforms_on_core_checks(mode):
    _need("trl")
    rep = fuzz(adapters.load("trl:grpo", adapter="trl", vllm_is_mode=mode), seed=1, examples=6,
               checks=CORE + ["hyperparameters"])
    assert rep.ok, rep.text()


@pytest.mark.parametrize("mode", VLLM_IS_MODES)
def test_trl_vllm_importance_sampling_is_trls_own_weight(mode):
    """The reference told another C_max than the one TRL runs with fails: the weights come from TRL's
    ``_generate_and_score_completions``, not from the reference."""
    _need("trl")
    from dataclasses import replace
    t = adapters.load("trl:grpo", adapter="trl", vllm_is_mode=mode)
    rep = fuzz(replace(t, params={**t.params, "clip_max": 1.5}), seed=1, examples=6,
               checks=["gradient", "region_coverage"])
    assert not rep.ok


#: the IS weight of every token of :func:`test_trl_vllm_importance_sampling_ignores_a_nan_sampling_logprob`'s
#: batch: row 0 has r = 1.2 and a NaN sampling logprob at token 1, row 1 r = 1.5; C_max = 3, no C_min
NAN_BATCH_WEIGHTS = {
    "token_truncate": [[1.2, 1.0, 1.2, 1.2], [1.5] * 4],
    "token_mask": [[1.2, 1.0, 1.2, 1.2], [1.5] * 4],
    "sequence_truncate": [[1.2 ** 3] * 4, [3.0] * 4],      # row 1: R = 1.5⁴ > 3, truncated
    "sequence_mask": [[1.2 ** 3] * 4, [0.0] * 4],          # row 1: masked
}


@pytest.mark.parametrize("mode", sorted(NAN_BATCH_WEIGHTS))
def test_trl_vllm_importance_sampling_ignores_a_nan_sampling_logprob(mode):
    """vLLM reports a logprob it could not compute as None, TRL reads it as NaN and zeroes its
    log-ratio (grpo_trainer.py:2665): the token's own weight is 1, and a sequence ratio leaves it out."""
    _need("trl")
    import math

    import torch
    t = adapters.load("trl:grpo", adapter="trl", vllm_is_mode=mode)
    logp = torch.full((2, 4), -1.0, requires_grad=True)
    logp_mu = logp.detach() - torch.tensor([[math.log(1.2)], [math.log(1.5)]])
    logp_mu[0, 1] = float("nan")
    adv, mask = torch.ones(2, 4), torch.ones(2, 4, dtype=torch.bool)
    loss = t.fn(logp, logp_mu, adv, mask)
    loss.backward()
    w = torch.tensor(NAN_BATCH_WEIGHTS[mode])
    assert torch.allclose(logp.grad, -w / 8)            # seq-mean-token-mean: 1 / (2 rows · 4 tokens)
    assert torch.allclose(loss, -w.sum() / 8)           # old = current: the PPO ratio is 1, the loss −w·Â


@pytest.mark.parametrize("mode", ["sequence_mask", "sequence_truncate"])
def test_trl_sequence_is_without_an_upper_bound_overflows_to_nan(mode):
    """GRPOConfig documents vllm_importance_sampling_clip_max=None ('to strictly mask ratios below C_min
    without upper bound'). Then a completion whose summed log-ratio passes float32's exp range (here
    0.8 per token over 120 tokens) gets weight inf (grpo_trainer.py:2674), and a zero advantage (a group
    whose rewards are all equal) makes the loss NaN: 0 · inf. A TRL release that bounds the weight fails
    this test; update the conformance matrix's note then."""
    _need("trl")
    import torch

    from drpo_analysis.fuzz.adapters import trl
    tr = trl.vllm_is_trainer(mode, loss_type="grpo", clip_min=0.5, clip_max=None, max_completion_length=120)
    logp = torch.full((2, 120), -2.0, requires_grad=True)
    logp_mu = logp.detach() - torch.tensor([[0.8], [0.0]])            # row 0: Σ log r = 96 > 88.7
    inputs = trl.scored_inputs(tr, logp, logp_mu, torch.ones(2, 120, dtype=torch.bool))
    assert torch.isinf(inputs["importance_sampling_ratio"][0]).all()
    assert torch.equal(inputs["importance_sampling_ratio"][1], torch.ones(1))
    inputs["advantages"] = torch.tensor([0.0, 1.0])
    assert torch.isnan(tr._compute_loss(None, inputs))


@pytest.mark.parametrize("kind", ["ppo", "gspo"])
def test_openrlhf_policy_loss_conforms_on_core_checks(kind):
    _need("openrlhf")
    rep = fuzz(adapters.load(f"openrlhf:{kind}", adapter="openrlhf"), seed=1, examples=6,
               checks=["on_policy", "aggregation"])
    assert rep.ok, rep.text()


def test_conformance_report_gives_verdicts_and_renders(tmp_path):
    _need("verl")
    _need("trl")
    from drpo_analysis.fuzz import conformance, verdict
    entries = [e for e in conformance.ENTRIES if e.spec in ("verl:dppo_tv", "trl:bnpo")][:2]
    res = conformance.run(tmp_path / "C.md", examples=4, progress=False, entries=entries)
    text = (tmp_path / "C.md").read_text()
    assert [r["label"] for r in res["entries"]] == [e.label for e in entries]
    for r in res["entries"]:
        assert r["label"] in text and r["status"] in text
        assert r["status"] in verdict.VERDICTS
        for f in r["findings"]:
            assert f["severity"] in (verdict.EDGE, verdict.DEVIATES) and f["sub_check"] and f["fix"]
            assert "check_batch(target, batch" in f["reproducer"]


def test_openrlhf_loader_leaves_transformers_importable():
    _need("openrlhf")
    _need("trl")
    import sys

    from drpo_analysis.fuzz.adapters import openrlhf
    openrlhf.loss_module()
    assert "deepspeed" not in sys.modules or sys.modules["deepspeed"].__spec__ is not None
    adapters.load("trl:grpo", adapter="trl")   # imports transformers.Trainer (looks for deepspeed)


@pytest.mark.parametrize("option", ["token_k1", "token_k2", "token_k3", "seq_sum_k1", "seq_mean_k3", "seq_max_k2"])
def test_verl_rollout_rejection_matches_its_registry_reference(option):
    _need("verl")
    rep = fuzz(adapters.load(f"verl:rollout_rs={option}"), seed=0, examples=6,
               checks=["gradient", "region_coverage", "hyperparameters"])
    assert rep.verdict == "conforms with declared design choices", rep.text()


def test_verl_sequence_k1_statistic_is_of_clamped_token_log_ratios():
    """verl clamps each token's log-ratio to ±20 before the k1 sum; declared by the adapter
    (statistics_clamp), the overflow check (|log r| up to 100) finds no deviation."""
    _need("verl")
    rep = fuzz(adapters.load("verl:rollout_rs=seq_sum_k1"), seed=0, examples=24, checks=["overflow"])
    assert rep.verdict != "deviates", rep.text()


@pytest.mark.parametrize("level,method", [("token", "tis_token"), ("sequence", "tis_seq")])
def test_verl_rollout_is_weights_match_their_registry_reference(level, method):
    _need("verl")
    t = adapters.load(f"verl:rollout_is={level}")
    rep = fuzz(t, seed=0, examples=6, checks=["gradient", "region_coverage", "hyperparameters"])
    assert t.method == method and rep.verdict == "conforms with declared design choices", rep.text()


def test_verl_sequence_icepop_raises_when_every_sequence_is_rejected():
    """Pins the CONFORMANCE.md finding: rollout_is="sequence" with a "lower_upper" band divides by
    zero in its effective-sample-size metric once no sequence of the batch is kept."""
    _need("verl")
    import torch
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_weights

    mask = torch.ones(2, 2)
    outside = torch.tensor([[1.0, 0.5], [-1.0, -0.5]])        # Π r = e^1.5 > 2 and e^-1.5 < 0.5
    with pytest.raises(ZeroDivisionError):
        compute_rollout_correction_weights(outside, mask, rollout_is="sequence", rollout_is_threshold="0.5_2.0")
    one_kept = torch.tensor([[0.1, 0.1], [-1.0, -0.5]])
    w, _ = compute_rollout_correction_weights(one_kept, mask, rollout_is="sequence", rollout_is_threshold="0.5_2.0")
    assert torch.allclose(w, torch.tensor([[math.exp(0.2)] * 2, [0.0, 0.0]]))


def test_conformance_reruns_only_the_selected_entries(tmp_path):
    _need("verl")
    from drpo_analysis.fuzz import conformance
    entries = [e for e in conformance.ENTRIES if e.spec in ("verl:gpg", "verl:dro")]
    first = conformance.run(tmp_path / "C.md", examples=2, progress=False, entries=entries)
    again = conformance.run(tmp_path / "C.md", examples=2, progress=False, entries=entries, only=(entries[1].label,))
    assert again["entries"][0] == json.loads(json.dumps(first["entries"][0], default=str))   # kept from C.json
    assert [r["label"] for r in again["entries"]] == [e.label for e in entries]
    with pytest.raises(conformance.PreviousMatrixError, match="examples"):
        conformance.run(tmp_path / "C.md", examples=3, progress=False, entries=entries, only=("gpg",))


def test_user_functions_in_framework_signatures_are_detected():
    _need("verl")
    from pathlib import Path
    corpus = Path(__file__).parent / "corpus" / "correct"
    for name, fn, adapter in (("verl_signature_vanilla", "compute_policy_loss_custom", "verl"),
                              ("openrlhf_class", "MyPolicyLoss", "openrlhf"),
                              ("trl_signature_grpo", "compute_loss", "trl"), ("where_ppo_token_mean", "loss_fn", "plain")):
        obj = plain.resolve(f"{corpus / name}.py:{fn}")
        assert adapters.detect(obj) == adapter, name
