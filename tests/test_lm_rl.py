"""GRPO on a Hugging Face causal LM: tasks, generation and log μ, sampler precisions, the training
loop (every method family, resume, time budget), the study and its report, and the CLI.

Fast tests use a tiny random LLaMA with a character tokenizer; the SmolLM2 smoke test is slow
(loading and de-quantising the GGUF weights alone takes ~30 s on two shared cores)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from drpo_analysis.rl import hf_policy, lm_grpo, lm_study, text_tasks

TOK = text_tasks.CharTokenizer()
TASK = text_tasks.TextTask("add", 1, 0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def warm_model():
    """A tiny LLaMA after a short supervised warm start (sampled accuracy well inside (0, 1))."""
    model = hf_policy.tiny_llama(TOK.vocab_size, hidden=64)
    lm_grpo.supervised_warmup(model, TOK, TASK, steps=120)
    return model


def build_of(model):
    import copy

    return lambda: (copy.deepcopy(model), TOK)


def cfg(**kw) -> lm_grpo.LMConfig:
    base = dict(task="add", task_size=1, shots=0, steps=2, prompts_per_step=4, samples_per_prompt=8,
                minibatches=2, lr=1e-4, max_new_tokens=3, eval_every=2, eval_size=16, ckpt_every=2)
    return lm_grpo.LMConfig(**(base | kw))


# ---- tasks and tokenizers ----------------------------------------------------------------------
def test_text_tasks_answers_and_exact_match_reward():
    rng = np.random.default_rng(0)
    for name, check in (("add", lambda q, a: int(eval(q.rstrip("="))) == int(a)),
                        ("copy", lambda q, a: q[5:-1] == a), ("reverse", lambda q, a: q[8:-1][::-1] == a)):
        prompts, answers = text_tasks.TextTask(name, 3, 2).sample(rng, 20)
        for p, a in zip(prompts, answers):
            lines = p.split("\n")
            assert len(lines) == 3 and check(lines[-1], a)
            assert all(check(*(ln.split("=", 1)[0] + "=", ln.split("=", 1)[1]) if name == "add"
                             else (ln[:ln.index(":") + 1], ln[ln.index(":") + 1:])) for ln in lines[:-1])
    r = text_tasks.TextTask.reward(["12", "12", "12", "12"], ["12\n7", " 12 ", "123", "1"])
    assert r.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_char_tokenizer_round_trip_and_rejects_unknown():
    s = "copy abc:abc\n12+3="
    assert TOK.decode(TOK.encode(s)) == s
    with pytest.raises(ValueError, match="not in the toy vocabulary"):
        TOK.encode("Z")


def test_stop_mask_ends_at_first_stop_token():
    stop = TOK.stop_ids
    t = torch.tensor([[1, stop[1], 2, 3], [1, 2, 3, 4], [stop[0], 1, stop[1], 2]])
    assert hf_policy.stop_mask(t, stop).tolist() == [[True, True, False, False], [True] * 4,
                                                      [True, False, False, False]]


# ---- generation, μ and sampler precisions ------------------------------------------------------
def _rollout(model, sampler_precision, n=16, seed=1):
    p, _ = TASK.sample(np.random.default_rng(0), n)
    ids, pm = hf_policy.left_pad([TOK.encode(x) for x in p], TOK.pad_id, "cpu")
    s = hf_policy.LMSampler(model, sampler_precision)
    ro = hf_policy.generate(s.model, ids, pm, 3, stop_ids=TOK.stop_ids, pad_id=TOK.pad_id, seed=seed, topk=5)
    with torch.no_grad():
        logp = hf_policy.response_logp(model, ro)[0]
    return ro, logp


def test_fp32_sampler_records_mu_equal_to_the_policy_pi(warm_model):
    """log μ from generate's scores (cached decoding, left padding) = log π from one full forward:
    fails if a warper (top-k, temperature) were active or positions were misaligned."""
    ro, logp = _rollout(warm_model, "none")
    assert ro.mask.any() and (~ro.mask).any()
    assert torch.allclose(logp[ro.mask], ro.logp_mu[ro.mask], atol=2e-5)
    assert (ro.logp_mu[~ro.mask] == 0).all()
    # the Top-K set holds the sampled token and log μ of the sampled token
    sampled = ro.topk_ids == ro.tokens[..., None]
    assert sampled.any(-1)[ro.mask].all()
    assert torch.allclose((ro.topk_logp_mu * sampled).sum(-1)[ro.mask], ro.logp_mu[ro.mask])


@pytest.mark.parametrize("precision", ["bf16", "fp8"])
def test_low_precision_sampler_differs_from_policy_but_stays_close(warm_model, precision):
    ro, logp = _rollout(warm_model, precision)
    d = (logp.exp() - ro.logp_mu.exp())[ro.mask].abs()
    assert 0 < float(d.max()) < 0.2


def test_fp8_sampler_rounds_decoder_linear_weights_only(warm_model):
    s = hf_policy.LMSampler(warm_model, "fp8")
    ref = dict(warm_model.named_parameters())
    for name, p in s.model.named_parameters():
        if name.startswith("model.layers.") and name.endswith("proj.weight"):
            # on the e4m3 grid: at most 2^8 codes, and rounding again changes nothing
            assert len(torch.unique(p)) <= 256 and torch.equal(hf_policy.fp8_round(p), p), name
            assert not torch.equal(p, ref[name])
        else:  # embedding / tied output head, norms
            assert torch.equal(p, ref[name]), name


# ---- the training loop ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["drpo", "ppo_clip", "dppo_binary_tv", "dppo_topk_kl", "gspo_seq", "pg_kl"])
def test_methods_train_with_finite_metrics(warm_model, method, tmp_path):
    status = lm_grpo.run(cfg(method=method), tmp_path, build_of(warm_model), progress=False)
    rows = lm_grpo.read_metrics(tmp_path / "metrics.jsonl")
    steps = [r for r in rows if "reward/mean" in r]
    assert status["status"] == "ok" and len(steps) == 2
    assert rows[0]["step"] == -1 and "eval/greedy_acc" in rows[0] and "eval/greedy_acc" in rows[-1]
    for r in steps:
        assert r["finite"] and 0 <= r["reward/mean"] <= 1 and r["entropy/mean"] > 0
        assert 0 < r["response/length_mean"] <= 3
        assert any(k.startswith("bucket/") and k.endswith("abs_shift/mean") for k in r)
    assert any(r["adv/frac_zero_groups"] < 1 for r in steps)  # the warm start gives mixed groups


def test_ppo_clip_masks_and_drpo_attenuates_under_a_large_step(warm_model, tmp_path):
    """A large learning rate moves π away from μ within a step: PPO's ratio box then masks tokens
    (w = 0) while DRPO only attenuates (w ∈ (0, 1)) and never masks."""
    ppo = lm_grpo.run(cfg(method="ppo_clip", lr=3e-2, minibatches=4, steps=3), tmp_path / "ppo",
                      build_of(warm_model), progress=False)
    drpo = lm_grpo.run(cfg(method="drpo", lr=3e-2, minibatches=4, steps=3), tmp_path / "drpo",
                       build_of(warm_model), progress=False)
    assert ppo["status"] == drpo["status"] == "ok"
    rp = [r for r in lm_grpo.read_metrics(tmp_path / "ppo/metrics.jsonl") if "reward/mean" in r]
    rd = [r for r in lm_grpo.read_metrics(tmp_path / "drpo/metrics.jsonl") if "reward/mean" in r]
    assert max(r["frac/masked"] or 0 for r in rp) > 0
    assert all((r["frac/masked"] or 0) == 0 for r in rd) and max(r["frac/attenuated"] or 0 for r in rd) > 0


def test_resume_after_kill_reproduces_the_uninterrupted_run(warm_model, tmp_path):
    c = cfg(steps=4, ckpt_every=2, mismatch="bf16+stale=1")
    lm_grpo.run(c, tmp_path / "full", build_of(warm_model), progress=False)
    assert lm_grpo.run(c, tmp_path / "cut", build_of(warm_model), progress=False, stop_after=2)["status"] == "partial"
    assert lm_grpo.run(c, tmp_path / "cut", build_of(warm_model), progress=False, resume=True)["status"] == "ok"
    drop = ("perf/sample_tokens_per_s", "perf/train_tokens_per_s")
    full, cut = ([{k: v for k, v in r.items() if k not in drop} for r in lm_grpo.read_metrics(tmp_path / d / "metrics.jsonl")]
                 for d in ("full", "cut"))
    assert full == cut
    with pytest.raises(ValueError, match="already holds a run"):
        lm_grpo.run(c, tmp_path / "full", build_of(warm_model), progress=False)
    with pytest.raises(ValueError, match=r"records another configuration: lr: recorded 0\.0001, requested 0\.001; "
                                         r"mismatch: recorded 'bf16\+stale=1', requested 'bf16'$"):
        lm_grpo.run(cfg(steps=4, ckpt_every=2, lr=1e-3), tmp_path / "full", build_of(warm_model), progress=False,
                    resume=True)


def test_time_budget_stops_with_a_checkpoint_and_an_accuracy(warm_model, tmp_path):
    s = lm_grpo.run(cfg(steps=3, eval_every=3), tmp_path, build_of(warm_model), progress=False, max_seconds=0)
    rows = lm_grpo.read_metrics(tmp_path / "metrics.jsonl")
    assert s == {"status": "partial", "step": 1, "out": str(tmp_path)} and (tmp_path / "ckpt.pt").exists()
    assert "eval/greedy_acc" in rows[-1]
    assert lm_grpo.run(cfg(steps=3, eval_every=3), tmp_path, build_of(warm_model), progress=False,
                       resume=True)["status"] == "ok"


@pytest.mark.parametrize("bad, match", [({"mismatch": "fp16"}, "unknown part"), ({"task": "mul"}, "unknown text task"),
                                        ({"prompts_per_step": 3}, "divisible"), ({"method": "nope"}, "nope"),
                                        ({"lr": 0}, "lr"), ({"mismatch": "bf16+stale=-1"}, "stale")])
def test_bad_configs_rejected(bad, match):
    with pytest.raises((ValueError, KeyError), match=match):
        cfg(**bad).validate()


# ---- study, report, CLI --------------------------------------------------------------------------
def test_bucket_table_counts_and_thresholds():
    mu = np.array([0.0005, 0.005, 0.05, 0.3, 0.9, 0.9])
    pi = np.array([0.0005, 0.01, 0.3, 0.3, 0.9, 0.5])
    rows = lm_study.bucket_table(mu, pi)
    assert [r["count"] for r in rows] == [1, 1, 1, 1, 2]
    assert rows[1]["ppo_clip_outside"] == 1.0 and rows[2]["tv_outside"] == 1.0 and rows[4]["tv_outside"] == 0.5


def test_cli_study_smoke_writes_report_and_resumes(tmp_path, capsys):
    from drpo_analysis import cli

    out = tmp_path / "study"
    args = ["lmrl", "--smoke", "--study", "--json", "--warmup-steps", "60", "--out", str(out)]
    assert cli.main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["complete"] and len(res["arms"]) == 2
    for name in ("REPORT.md", "report.json", "study.png", "mismatch.json"):
        assert (out / name).exists()
    report = json.loads((out / "report.json").read_text())
    assert {m["precision"] for m in report["mismatch"]} == {"bf16", "fp8"} and report["mismatch"][0]["tokens"] > 0
    summaries = sorted((out / "runs").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in summaries]
    assert cli.main(args) == 0  # everything finished: nothing re-runs
    capsys.readouterr()
    assert [p.stat().st_mtime_ns for p in summaries] == stamps
    assert "| " not in (out / "REPORT.md").read_text().splitlines()[0]


@pytest.mark.parametrize("argv", [["--arms", "drpo"], ["--mismatch", "fp16"], ["--param", "delta"],
                                  ["--task", "mul"], ["--threads", "0"]])
def test_cli_bad_usage_exits_2(argv, capsys):
    from drpo_analysis import cli

    study = ["--study"] if argv[0] == "--arms" else []
    with pytest.raises(SystemExit) as exc:
        cli.main(["lmrl", "--smoke", *study, *argv])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.slow
def test_smollm2_grpo_smoke_on_cpu(tmp_path):
    """The real model end to end on CPU: 2 GRPO steps of SmolLM2-135M-Instruct with a bf16 sampler."""
    from drpo_analysis.lm import loading

    if not loading.available():
        pytest.skip("SmolLM2 is not installed (make lm)")
    model, tok = hf_policy.smollm2()
    ro_cfg = lm_grpo.LMConfig(model="smollm2", task="add", task_size=2, shots=3, steps=2, prompts_per_step=2,
                              samples_per_prompt=4, minibatches=1, lr=2e-6, max_new_tokens=4, eval_every=2,
                              eval_size=8)
    status = lm_grpo.run(ro_cfg, tmp_path, lambda: (model, tok), progress=False)
    rows = lm_grpo.read_metrics(tmp_path / "metrics.jsonl")
    steps = [r for r in rows if "reward/mean" in r]
    assert status["status"] == "ok" and len(steps) == 2 and all(r["finite"] for r in steps)
    assert 0 < steps[0]["shift/mean_abs"] < 0.05  # bf16 sampler vs fp32 trainer: small, non-zero
