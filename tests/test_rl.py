"""The RL harness: model, tasks, sampler mismatch, trainer metrics, validation, bitwise resume."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from drpo_analysis.core import aggregation, methods
from drpo_analysis.rl import tasks, trainer
from drpo_analysis.rl.model import ModelConfig, TinyGPT, num_params_of
from drpo_analysis.core.mismatch import MismatchSpec
from drpo_analysis.rl.rollout import MISMATCH, Sampler, fp8_round, generate

TINY = ModelConfig(d_model=16, n_layer=1, n_head=2, max_len=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A warm-start cache shared by this module's runs (the smoke warm start takes ~1 s)."""
    return str(tmp_path_factory.mktemp("runs"))


def tiny(**kw):
    """The smoke configuration, 2 steps, small evaluation (warm start reaches 30% in ~1 s)."""
    return trainer.smoke_config(**({"steps": 2, "eval_size": 16} | kw))


# ---- model -----------------------------------------------------------------------------------
def test_kv_cache_decoding_matches_full_forward():
    torch.manual_seed(0)
    m = TinyGPT(ModelConfig(d_model=32, n_layer=2, n_head=4, max_len=12)).eval()
    idx = torch.randint(0, 16, (3, 10))
    full, _ = m(idx)
    logits, cache = m(idx[:, :6])
    steps = [logits[:, -1]]
    for t in range(6, 10):
        lg, cache = m(idx[:, t:t + 1], cache)
        steps.append(lg[:, -1])
    torch.testing.assert_close(torch.stack(steps[:-1], 1), full[:, 5:9], atol=1e-5, rtol=1e-5)


def test_param_count_formula_and_validation():
    cfg = ModelConfig()
    assert TinyGPT(cfg).num_params() == num_params_of(cfg)
    with pytest.raises(ValueError, match="n_head"):
        ModelConfig(d_model=30, n_head=4).validate()
    with pytest.raises(ValueError, match="max_len"):
        TinyGPT(TINY)(torch.zeros(1, 17, dtype=torch.long))


# ---- tasks -----------------------------------------------------------------------------------
def test_addition_answers_are_sums_least_significant_first():
    t = tasks.get("add", 3)
    p, a = t.sample(np.random.default_rng(1), 50)
    for row, ans in zip(p, a):
        x, y = int("".join(map(str, row[:3]))), int("".join(map(str, row[4:7])))
        assert row[3] == tasks.PLUS and row[7] == tasks.EQ and ans[-1] == tasks.EOS
        assert int("".join(map(str, ans[:-1][::-1]))) == x + y
    assert t.reward(a, a).tolist() == [1.0] * 50
    wrong = a.copy()
    wrong[0, 0] = (wrong[0, 0] + 1) % 10
    assert t.reward(a, wrong)[0] == 0.0


def test_sort_answers_have_variable_length():
    t = tasks.get("sort", 6)
    p, a = t.sample(np.random.default_rng(2), 200)
    lengths = (a != tasks.PAD).sum(1)
    assert len(set(lengths.tolist())) > 2 and a.shape[1] == t.answer_len
    for row, ans in zip(p, a):
        assert ans[:(ans != tasks.PAD).sum() - 1].tolist() == sorted(set(row[1:-1].tolist()))
    np.testing.assert_array_equal(t.sample(np.random.default_rng(2), 200)[0], p)


# ---- sampler and mismatch ----------------------------------------------------------------------
def test_mismatch_parse_round_trip_and_errors():
    m = MISMATCH.parse("bf16+noise=0.5+stale=2")
    assert (m.precision, m.noise, m.stale) == ("bf16", 0.5, 2) and MISMATCH.parse(str(m)) == m
    assert MISMATCH.parse("none") == MismatchSpec() == MISMATCH.parse("fp32")
    for bad, why in (("fp9", "unknown part 'fp9'"), ("noise=-1", r"noise must lie in \[0, 100\)"),
                     ("stale=x", "stale value 'x' is not an integer"), ("bf16+fp8", "two precisions"),
                     ("fp16", "unknown part 'fp16'"), ("temperature=2", "unknown part")):
        with pytest.raises(ValueError, match=f"mismatch {re.escape(repr(bad))}: {why}.*accepted: none"):
            MISMATCH.parse(bad)


def test_fp8_round_is_idempotent_and_close():
    x = torch.randn(64, 64)
    q = fp8_round(x)
    torch.testing.assert_close(fp8_round(q), q)
    assert 0 < (q - x).abs().max() <= 0.07 * x.abs().max()


def _mu_vs_pi(mismatch):
    torch.manual_seed(0)
    policy = TinyGPT(TINY).eval()
    s = Sampler(TINY, MISMATCH.parse(mismatch), seed=0)
    s.load(policy.state_dict())
    prompts = torch.as_tensor(tasks.get("sort", 4).sample(np.random.default_rng(0), 32)[0])
    ro = s.sample(prompts, 5, torch.Generator().manual_seed(0))
    logits, _ = policy(ro.sequences[:, :-1])
    logp = torch.log_softmax(logits[:, prompts.shape[1] - 1:], -1).gather(-1, ro.tokens[..., None])[..., 0]
    return ro, (logp.exp() - ro.logp_mu.exp()).abs()[ro.mask]


def test_exact_sampler_records_mu_equal_to_pi_and_mask_ends_at_eos():
    ro, shift = _mu_vs_pi("none")
    assert shift.max() < 1e-6
    for tok, m in zip(ro.tokens, ro.mask):
        n = int(m.sum())
        assert m[:n].all() and not m[n:].any()
        assert (tok[n:] == tasks.PAD).all()
        if n < len(tok) or tok[-1] == tasks.EOS:
            assert tok[n - 1] == tasks.EOS


@pytest.mark.parametrize("mismatch", ["bf16", "fp8", "fp8logits", "noise=0.5"])
def test_mismatched_sampler_differs_from_policy(mismatch):
    _, shift = _mu_vs_pi(mismatch)
    assert shift.max() > 1e-5


def test_greedy_generation_is_argmax_of_the_policy():
    torch.manual_seed(0)
    m = TinyGPT(TINY).eval()
    prompts = torch.randint(0, 10, (4, 6))
    ro = generate(m, prompts, 3, greedy=True)
    logits, _ = m(prompts)
    assert torch.equal(ro.tokens[:, 0], logits[:, -1].argmax(-1))


# ---- trainer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, match", [
    ({"method": "nope"}, "unknown method"), ({"agg": "mean"}, "agg"), ({"mismatch": "fp9"}, "mismatch"),
    ({"prompts_per_step": 3, "minibatches": 2}, "divisible"), ({"lr": 0.0}, "lr"),
    ({"samples_per_prompt": 1}, "samples_per_prompt"), ({"params": {"delta": -1}}, "delta"),
    ({"task": "add", "task_size": 9}, "max_len"), ({"anchor": "pi"}, "anchor"),
])
def test_bad_configs_rejected_before_compute(bad, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        trainer.run(tiny(**bad), tmp_path / "r", root=str(tmp_path / "never"), progress=False)
    assert not (tmp_path / "never").exists()


def test_cuda_requested_without_gpu_is_rejected():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="cuda"):
        tiny(device="cuda").validate()


@pytest.mark.parametrize("method", methods.names())
def test_every_registry_method_trains(method, root, tmp_path):
    trainer.run(tiny(method=method), tmp_path, root=root, progress=False)
    rows = trainer.read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2] and all(r.get("finite", True) for r in rows)
    assert "eval/greedy_acc" in rows[-1]


@pytest.mark.parametrize("agg", aggregation.MODES)
def test_every_aggregation_mode_trains(agg, root, tmp_path):
    trainer.run(tiny(agg=agg, std_normalize=True), tmp_path, root=root, progress=False)
    assert trainer.read_metrics(tmp_path / "metrics.jsonl")[0]["reward/mean"] >= 0


def test_weight_readout_matches_registry_definition(root, tmp_path):
    """pg_is has w ≡ 1; DRPO w = 1 − sΔ/δ ∈ [1 − 1/δ, 1 + 1/δ] (DRPO Table 1)."""
    trainer.run(tiny(method="pg_is", steps=3), tmp_path / "a", root=root, progress=False)
    for r in trainer.read_metrics(tmp_path / "a" / "metrics.jsonl"):
        if r.get("weight/mean") is not None:
            assert abs(r["weight/min"] - 1) < 1e-4 and abs(r["weight/max"] - 1) < 1e-4
    trainer.run(tiny(method="drpo", params={"delta": 0.5}, steps=3, lr=0.05), tmp_path / "b", root=root,
                progress=False)
    seen = [r for r in trainer.read_metrics(tmp_path / "b" / "metrics.jsonl") if r.get("weight/mean") is not None]
    assert seen and all(-1 - 1e-4 <= r["weight/min"] and r["weight/max"] <= 3 + 1e-4 for r in seen)
    assert any(abs(r["weight/max"] - 1) > 1e-3 for r in seen)


def test_resume_after_kill_is_bitwise_identical(root, tmp_path):
    cfg = tiny(steps=5, ckpt_every=2, mismatch="bf16+noise=0.3+stale=1")
    trainer.run(cfg, tmp_path / "full", root=root, progress=False)
    part = trainer.run(cfg, tmp_path / "cut", root=root, progress=False, stop_after=3)
    assert part["status"] == "partial"
    # a "kill" after step 3 with the last checkpoint at step 2: the step-3 line is replayed
    trainer.run(cfg, tmp_path / "cut", root=root, progress=False, resume=True)
    a = torch.load(tmp_path / "full" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "cut" / "ckpt.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["rng"]["torch"].values(), b["rng"]["torch"].values()))
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]  # noqa: E731
    assert strip(trainer.read_metrics(tmp_path / "full" / "metrics.jsonl")) == \
        strip(trainer.read_metrics(tmp_path / "cut" / "metrics.jsonl"))


def test_existing_run_needs_resume_and_same_config(root, tmp_path):
    cfg = tiny()
    trainer.run(cfg, tmp_path, root=root, progress=False)
    with pytest.raises(ValueError, match="already holds a run"):
        trainer.run(cfg, tmp_path, root=root, progress=False)
    with pytest.raises(ValueError, match=r"records another configuration: lr: recorded 0\.0003, requested 0\.01$"):
        trainer.run(tiny(lr=1e-2), tmp_path, root=root, progress=False, resume=True)


def test_cli_smoke_json(tmp_path, capsys):
    from drpo_analysis import cli

    code = cli.main(["rl", "--smoke", "--json", "--steps", "2", "--out", str(tmp_path / "o"),
                     "--runs-root", str(tmp_path / "runs")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "ok" and out["steps_logged"] == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["rl", "--smoke", "--param", "delta"])
    assert exc.value.code == 2


# ---- long tail and fitted mismatch ----------------------------------------------------------------
def test_free_form_words_count_only_as_words():
    t = tasks.get("add", 2, free=3, vocab_size=64, zipf_s=1.2)
    p, a = t.sample(np.random.default_rng(0), 200)
    assert a.shape[1] == t.answer_len == 3 + 4 and (a[:, :3] >= tasks.FIRST_WORD).all()
    other = a.copy()
    other[:, :3] = tasks.FIRST_WORD + (a[:, :3] - tasks.FIRST_WORD + 1) % t.n_words  # other words: still right
    assert t.reward(a, other).tolist() == [1.0] * 200
    digit = a.copy()
    digit[:, 0] = 5  # a digit where a word belongs
    assert t.reward(a, digit).tolist() == [0.0] * 200
    ranks = a[:, :3].ravel() - tasks.FIRST_WORD
    assert np.mean(ranks == 0) == pytest.approx(tasks.zipf_probs(t.n_words, 1.2)[0], abs=0.05)


def test_tail_fit_matches_requested_shares():
    from drpo_analysis.rl.mismatch_fit import fit_tail

    f = fit_tail({"mu<=0.01": 0.05, "mu<=0.1": 0.12}, n_words=4080, answer_tokens=4)
    assert f["log_ratio_max"] < np.log(1.25)
    frac = f["free"] / (f["free"] + 4)
    assert [frac * x for x in tasks.tail_shares(4080, f["zipf_s"])] == pytest.approx(f["predicted"])


def test_noise_fit_recovers_a_known_sampler():
    from drpo_analysis.rl import mismatch_fit as mf

    g = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(400, 256, generator=g)  # [N, V], long-tailed softmaxes
    eps = torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    target = mf.model_bucket_stat(logits, 0.05, -0.1, eps)  # the "measurement" of a known sampler
    fit = mf.fit_noise(logits, target, seed=7)  # other noise draws than the target's
    assert fit["sigma"] == pytest.approx(0.05, rel=0.15) and fit["beta"] == pytest.approx(-0.1, abs=0.06)
    assert fit["log_ratio_max"] < 0.15


def test_noise_pow_is_part_of_the_one_grammar():
    from drpo_analysis.rl.rollout import MISMATCH

    spec = MISMATCH.parse("noise=0.03+noise_pow=-0.13+stale=2")
    assert (spec.noise, spec.noise_pow, spec.stale) == (0.03, -0.13, 2)
    assert MISMATCH.parse(str(spec)) == spec
    with pytest.raises(ValueError, match="noise_pow"):
        MISMATCH.parse("noise_pow=5")
