"""The fuzzer: oracle, checks (each one kills the mutant it is for), misbehaving targets,
reproducers, the hypothesis entry point and the command line."""
import json
import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from drpo_analysis import cli
from drpo_analysis.fuzz import Batch, check_batch, fuzz, mutants, oracle, strategies as fst
from drpo_analysis.fuzz.adapters import plain

CORRECT = ("ppo_clip", "dual_clip", "cispo", "dppo_binary_tv", "dppo_topk_kl", "drpo", "spo", "gspo_token",
           "gspo_seq", "dro")


@pytest.mark.parametrize("name", CORRECT)
def test_correct_implementation_passes_every_check(name):
    rep = fuzz(plain.target(mutants.correct(name), method=name), seed=3, examples=6)
    assert rep.ok, rep.text()
    assert [c["name"] for c in rep.checks] == ["gradient", "on_policy", "stop_gradient", "region_coverage",
                                                "aggregation", "padding", "overflow", "dtype", "hyperparameters",
                                                "aggregation_modes"]


@pytest.mark.parametrize("mutant, check", [
    ("ppo_no_min", "gradient"), ("bf16_ratio_drift", "on_policy"), ("dual_clip_both_signs", "region_coverage"),
    ("mean_of_micro_batch_means", "aggregation"), ("seq_mean_local_rows", "aggregation"),
    ("nan_times_zero", "padding"), ("where_after_the_fact", "padding"), ("empty_batch_nan", "padding"),
    ("exp_overflow", "overflow"), ("horizon_is_padded_width", "padding"), ("dppo_ratio_not_detached", "dtype"),
    ("cispo_not_detached", "stop_gradient"), ("dppo_ratio_not_detached", "stop_gradient"),
    ("gspo_ratio_not_detached", "stop_gradient"), ("mutates_inputs", "stop_gradient"),
])
def test_each_check_kills_its_mutant(mutant, check):
    mu = next(m for m in mutants.MUTANTS if m.name == mutant)
    t = plain.target(mu.fn, method=mu.method, params=mu.params, **mu.options)
    rep = fuzz(t, seed=0, examples=8, checks=[check])
    assert rep.findings, f"{mutant} survived {check}"
    assert rep.findings[0].check == check
    # non-finite values leaking from ±inf/NaN padding and exp overflowing beyond float32's range
    # (|log r| > 88) are edge cases (listed, exit 0 unless --strict); 0/0 on an all-masked
    # micro-batch, which real batching produces, deviates
    edge = mutant in ("nan_times_zero", "where_after_the_fact", "exp_overflow")
    assert rep.verdict == ("edge cases only" if edge else "deviates"), rep.text()
    assert rep.exit_code(strict=True) == 1 and rep.exit_code() == (0 if edge else 1)


def test_oracle_gradient_is_minus_weight_times_derived_gradient():
    b = Batch(np.log([[0.5, 0.2]]), np.log([[0.4, 0.2]]), np.array([[1.0, 1.0]]), np.array([[True, False]]),
              np.array([0]))
    exp = oracle.expected("pg_is", {}, b, oracle.Conventions(), dtype="float64")
    assert exp.grad[0, 0] == pytest.approx(-0.5 / 0.4)          # −a·Â·r with a = 1/N = 1
    assert exp.grad[0, 1] == 0.0
    assert exp.value == pytest.approx(-1.25)


def test_log_ratio_clamp_convention_freezes_the_ratio():
    g = oracle.token_gradient("pg_is", {}, np.array([-1.0, -1.0]), np.array([-30.0, -5.0]), np.array([1.0, 1.0]), {},
                              oracle.Conventions(log_ratio_clamp=(-20.0, 20.0)))
    assert g[0] == 0.0 and g[1] == pytest.approx(math.exp(4.0))


def test_subgradients_at_kinks_conform_and_are_noted():
    # r exactly at 1 + ε_h with Â > 0: either side's gradient passes, and so does any convex
    # combination (torch.max at a tie returns the average); outside the hull it fails
    ell_mu = np.array([[-1.0]])
    b = Batch(ell_mu + math.log1p(0.28), ell_mu, np.ones((1, 1)), np.ones((1, 1), bool), np.zeros(1, int))
    exp = oracle.expected("ppo_clip", {}, b, oracle.Conventions(), dtype="float64")
    inside = -1.28
    notes = {}
    assert oracle.compare(exp, b.mask, np.array([[inside]]), None, "float64", notes) is None
    assert oracle.compare(exp, b.mask, np.array([[0.0]]), None, "float64", notes) is None
    assert notes == {}
    assert oracle.compare(exp, b.mask, np.array([[inside / 2]]), None, "float64", notes) is None
    assert notes == {"subgradient at a kink": 1}
    assert oracle.compare(exp, b.mask, np.array([[inside * 1.5]]), None, "float64") is not None
    assert oracle.compare(exp, b.mask, np.array([[-inside / 2]]), None, "float64") is not None


def test_tie_inside_a_clipped_piece_conforms():
    # r exactly at 1 − ε_l with Â > 0: J = r·Â is smooth there, but torch.maximum(−Âr, −Â·clamp(r))
    # ties and clamp's gradient at its bound is 0 in torch: half the gradient, a valid tie
    ell_mu = np.array([[-1.0]])
    b = Batch(ell_mu + math.log1p(-0.2), ell_mu, np.ones((1, 1)), np.ones((1, 1), bool), np.zeros(1, int))
    exp = oracle.expected("ppo_clip", {}, b, oracle.Conventions(), dtype="float64")
    assert oracle.compare(exp, b.mask, np.array([[-0.4]]), None, "float64") is None
    far = b.replace(logp=ell_mu + 0.1)
    exp = oracle.expected("ppo_clip", {}, far, oracle.Conventions(), dtype="float64")
    assert oracle.compare(exp, far.mask, exp.grad / 2, None, "float64") is not None


def _bad(kind):
    def fn(logp, logp_mu, adv, mask):
        if kind == "raises":
            raise RuntimeError("boom")
        if kind == "nan":
            return (logp * float("nan")).sum()
        if kind == "vector":
            return torch.stack([logp.sum(), logp.sum()])
        if kind == "no-grad":
            return torch.tensor(0.0)
        if kind == "hang":
            time.sleep(5)
        return 1.0
    return fn


@pytest.mark.parametrize("kind, error", [("raises", "raises"), ("nan", "non-finite"), ("vector", "non-scalar"),
                                         ("no-grad", "no-gradient"), ("hang", "timeout"), ("float", "not-a-tensor")])
def test_misbehaving_targets_are_findings_not_crashes(kind, error):
    t = plain.target(_bad(kind), method="pg_is", timeout=0.3)
    rep = fuzz(t, seed=0, examples=1, checks=["gradient"])
    assert not rep.ok and rep.findings[0].kind == error
    assert "check_batch(target, batch" in rep.findings[0].reproducer


def test_a_hanging_target_is_reported_once_and_the_rest_skipped():
    rep = fuzz(plain.target(_bad("hang"), method="pg_is", timeout=0.2), seed=0, examples=2)
    assert [f.kind for f in rep.findings] == ["timeout"]
    assert {c["status"] for c in rep.checks[1:]} == {"skipped"} and rep.seconds < 5


def test_reproducer_is_copy_pasteable_and_fails():
    rep = fuzz(plain.target(mutants.ppo_no_min, method="ppo_clip"), seed=0, examples=4, checks=["gradient"])
    f = rep.findings[0]
    assert f.seed == 0 and len(f.reproducer.splitlines()) <= 12
    with pytest.raises(AssertionError, match="does not conform"):
        exec(compile(f.reproducer, "<reproducer>", "exec"), {})


def test_same_seed_same_report():
    t = plain.target(mutants.drpo_delta_factor, method="drpo", params={"delta": 0.2})
    a, b = (fuzz(t, seed=7, examples=4) for _ in range(2))
    assert [f.reproducer for f in a.findings] == [f.reproducer for f in b.findings] and a.findings
    assert [c["status"] for c in a.checks] == [c["status"] for c in b.checks]


_PPO = plain.target(mutants.correct("ppo_clip"), method="ppo_clip")


@settings(max_examples=15)
@given(fst.batches(max_batch=4, max_len=8, kinks=oracle.kinks("ppo_clip")))
def test_hypothesis_entry_point(batch):
    check_batch(_PPO, batch)


@settings(max_examples=10)
@given(fst.packed_batches(max_batch=4, max_len=8))
def test_packed_batches_round_trip(pb):
    b = pb.to_padded()
    assert b.mask.sum() == pb.seq_lens.sum() and np.array_equal(b.logp[b.mask], pb.logp)


def test_strategies_bounded_by_default_extreme_opt_in():
    rng = np.random.default_rng(0)
    ell, mu = fst.sample_log_prob_pairs(rng, 20000)
    assert np.isfinite(ell).all() and np.abs(ell - mu).max() <= fst.BOUNDED_LOG_RATIO and mu.min() >= math.log(1e-12)
    ell, mu = fst.sample_log_prob_pairs(rng, 20000, extreme=True)
    assert np.isneginf(ell).any() and np.abs((ell - mu)[np.isfinite(ell)]).max() > 90


def test_regions_cover_signs_and_leaves():
    rng = np.random.default_rng(1)
    ell, mu = fst.sample_log_prob_pairs(rng, 4000, kinks=oracle.kinks("dual_clip"))
    adv = rng.normal(size=4000)
    labels = set(oracle.regions("dual_clip", {}, ell, mu, adv))
    assert {lab.split("|")[0] for lab in labels} == {"A+", "A-"} and len(labels) >= 3


@pytest.mark.slow   # ~2.5 min on 2 cores (79 targets, sweeps included); the outside corpus runs by default
def test_self_test_one_seed_kills_every_mutant():
    res = mutants.self_test(seeds=(0,))
    assert res["mutants"] >= 25 and res["score"] == 1.0 and res["false_positives"] == 0, res["survivors"]


def test_cli_fuzz_json_and_exit_codes(capsys):
    code = cli.main(["fuzz", "drpo_analysis.fuzz.mutants:drpo_wrong_sign", "--method", "drpo", "--param",
                     "delta=0.2", "--examples", "4", "--check", "gradient", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and not out["ok"] and {"check", "counterexample", "expected", "got"} <= set(out["findings"][0])


def _exit_code(argv) -> int:
    """The command line's exit status (argparse's errors raise SystemExit, the others return)."""
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code


def test_cli_usage_errors(tmp_path, capsys):
    """Exit 2 with one line: no target, a module that does not import, a file with a syntax error,
    a function without an argument the method is called with."""
    assert _exit_code(["fuzz", "--method", "drpo"]) == 2
    assert _exit_code(["fuzz", "nosuchmodule_xyz:f", "--method", "drpo"]) == 2
    broken = tmp_path / "broken.py"
    broken.write_text("def f(logp, logp_mu, adv, mask, delta=0.2):\n    return (logp *\n")
    capsys.readouterr()
    assert _exit_code(["fuzz", f"{broken}:f", "--method", "drpo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SyntaxError" in err[0] and "Traceback" not in err[0]
    no_param = tmp_path / "no_param.py"
    no_param.write_text("def f(logp, logp_mu, adv, mask):\n    return (logp * adv).sum()\n")
    assert _exit_code(["fuzz", f"{no_param}:f", "--method", "drpo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "takes no argument delta" in err[0]


def test_declared_clamp_freezes_pi_and_shift_too_unless_scoped_to_the_ratio():
    ell, ell_mu, adv = np.array([-0.1]), np.array([-25.0]), np.array([1.0])     # log r = 24.9 > 20
    conv = oracle.Conventions(log_ratio_clamp=(-20.0, 20.0))
    assert oracle.token_gradient("drpo", {"delta": 0.2}, ell, ell_mu, adv, {}, conv)[0] == 0.0
    ratio_only = oracle.Conventions(log_ratio_clamp=(-20.0, 20.0), clamp_scope="ratio")
    assert oracle.token_gradient("drpo", {"delta": 0.2}, ell, ell_mu, adv, {}, ratio_only)[0] != 0.0


def test_cli_api_and_plugin_share_the_example_count():
    import inspect

    from drpo_analysis.fuzz import runner
    parser = cli.build_parser()
    assert parser.parse_args(["fuzz", "x:y"]).examples == runner.DEFAULT_EXAMPLES
    assert inspect.signature(runner.assert_conforms).parameters["examples"].default == runner.DEFAULT_EXAMPLES


def test_cli_edge_cases_exit_0_unless_strict(capsys):
    args = ["fuzz", "drpo_analysis.fuzz.mutants:nan_times_zero", "--method", "pg_is", "--check", "padding", "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "edge cases only" and out["findings"][0]["severity"] == "edge case"
    assert out["findings"][0]["sub_check"] and out["findings"][0]["fix"]
    assert cli.main(args + ["--strict"]) == 1


def test_cli_timeout_is_settable(tmp_path, capsys):
    f = tmp_path / "slow.py"
    f.write_text("import time\n\ndef loss(logp, logp_mu, adv, mask):\n    time.sleep(2)\n    return logp.sum()\n")
    assert cli.main(["fuzz", f"{f}:loss", "--method", "pg_is", "--check", "gradient", "--timeout", "0.2",
                     "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["kind"] == "timeout"


def test_path_targets_import_their_siblings_and_kwargs_targets_are_told(tmp_path, capsys):
    (tmp_path / "helpers_xyz.py").write_text("def mean(x, mask, n=None):\n    return (x * mask).sum() / mask.sum()\n")
    (tmp_path / "loss.py").write_text("import torch\nfrom helpers_xyz import mean\n\n"
                                      "def loss(logp, logp_mu, adv, mask, **kw):\n"
                                      "    return mean(-torch.exp(logp - logp_mu).masked_fill(~mask, 0) * adv, mask)\n")
    code = cli.main(["fuzz", f"{tmp_path / 'loss.py'}:loss", "--method", "pg_is", "--check", "aggregation", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["findings"][0]["sub_check"] in ("micro-batch split", "data-parallel split")
    assert "**kwargs" in out["findings"][0]["fix"] and "num_tokens" in out["findings"][0]["fix"]


def test_declared_clamp_inside_a_dppo_mask_compiles_and_matches_the_unclamped_reference():
    # the clamp's Piecewise sits inside the mask's conditions: its derivative has boolean pieces
    params = {"delta_low": 0.15, "delta_high": 0.15}
    ell = np.array([-0.1, -0.1, -2.0, -0.5])
    ell_mu = np.array([-0.1, -3.0, -1.0, -0.4])
    adv = np.array([1.0, -1.0, 0.5, -0.7])
    clamped = oracle.token_gradient("dppo_binary_tv", params, ell, ell_mu, adv, {},
                                    oracle.Conventions(log_ratio_clamp=(-20.0, 20.0)))
    plain_grad = oracle.token_gradient("dppo_binary_tv", params, ell, ell_mu, adv, {}, oracle.Conventions())
    assert np.isfinite(clamped).all()
    np.testing.assert_allclose(clamped, plain_grad)     # |log r| < 20 everywhere: the clamp does not bite


def test_a_check_in_error_makes_the_verdict_error_with_exit_1(monkeypatch, capsys):
    from drpo_analysis.fuzz import runner

    def broken(ctx):
        raise TypeError("invalid entry 0 in condlist")
    monkeypatch.setitem(runner.CHECKS, "gradient", broken)
    rep = fuzz(_PPO, seed=0, examples=2, checks=["gradient", "on_policy"])
    assert rep.verdict == "error" and not rep.ok and rep.exit_code() == 1
    assert rep.as_dict()["reason"].startswith("check gradient did not run: fuzzer error: TypeError")
    code = cli.main(["fuzz", "drpo_analysis.fuzz.mutants:ppo_no_min", "--method", "ppo_clip",
                     "--examples", "2", "--check", "gradient"])
    text = capsys.readouterr().out
    assert code == 1 and "ERROR" in text and "error: check gradient did not run" in text


def _pg_is_token_mean_num_tokens_only(use_global):
    def loss(logp, logp_mu, adv, mask, num_tokens=None):   # takes num_tokens, not num_seqs
        per = -torch.exp(logp - logp_mu.where(mask, logp.detach())) * adv
        return per.masked_fill(~mask, 0.0).sum() / (num_tokens if use_global and num_tokens else mask.sum())
    return loss


def test_splits_run_for_a_target_that_takes_only_num_tokens():
    bad = fuzz(plain.target(_pg_is_token_mean_num_tokens_only(False), method="pg_is"), seed=0, examples=6,
               checks=["aggregation"])
    assert not bad.ok and any(f.sub_check.startswith("micro-batch split") for f in bad.findings), bad.text()
    good = fuzz(plain.target(_pg_is_token_mean_num_tokens_only(True), method="pg_is"), seed=0, examples=6,
                checks=["aggregation"])
    assert good.ok and "micro-batch and data-parallel splits" in good.checks[0]["detail"], good.text()


def _dppo_tv_clamp_on_ratio_only(logp, logp_mu, adv, mask, delta_low, delta_high):
    ratio = torch.exp(torch.clamp(logp - logp_mu, -20.0, 20.0))
    with torch.no_grad():
        shift = torch.exp(logp) - torch.exp(logp_mu)       # π − μ from the raw log-probs
        keep = ~(((adv > 0) & (shift > delta_high)) | ((adv < 0) & (-shift > delta_low)))
    per = (-adv * ratio * keep).masked_fill(~mask, 0.0)
    return per.sum() / mask.sum().clamp(min=1)


def test_a_declared_clamp_on_the_ratio_only_conforms_beyond_the_clamp():
    t = plain.target(_dppo_tv_clamp_on_ratio_only, method="dppo_binary_tv",
                     params={"delta_low": 0.15, "delta_high": 0.15}, log_ratio_clamp=20)
    b = Batch(logp=np.array([[-0.1]]), logp_mu=np.array([[-30.0]]), adv=np.array([[1.0]]),
              mask=np.array([[True]]), group_ids=np.array([0]))     # log r = 29.9: the clamp bites
    check_batch(t, b, dtype="float64")


def test_nan_on_realistic_padding_or_an_all_masked_micro_batch_deviates_inf_padding_is_an_edge_case():
    from drpo_analysis.fuzz import verdict
    ce = {"logp": [[-1.0, 0.0]], "logp_mu": [[-1.2, 0.0]], "mask": [[True, False]], "dtype": "float32",
          "token": None}
    assert verdict.classify("padding", "non-finite", ce, "ppo_clip", {})[0] == verdict.DEVIATES     # 0.0 fill
    for fill in (-50.0, 1e4, float("inf"), float("nan")):
        ce_fill = {**ce, "logp": [[-1.0, fill]], "logp_mu": [[-1.2, fill]]}
        sev = verdict.classify("padding", "non-finite", ce_fill, "ppo_clip", {})[0]
        assert sev == (verdict.DEVIATES if fill == -50.0 else verdict.EDGE), fill
    all_masked = {**ce, "mask": [[False, False]]}
    assert verdict.classify("padding", "non-finite", all_masked, "ppo_clip", {})[0] == verdict.DEVIATES
    no_rows = {**ce, "logp": np.zeros((0, 2)), "logp_mu": np.zeros((0, 2)), "mask": np.zeros((0, 2), bool)}
    assert verdict.classify("padding", "non-finite", no_rows, "ppo_clip", {})[0] == verdict.EDGE


def _token_mean_whatever_agg(logp, logp_mu, adv, mask, agg="token-mean"):   # ignores agg, as verl's GSPO
    return mutants.correct("pg_is")(logp, logp_mu, adv, mask)


def test_a_declared_aggregation_the_target_ignores_is_noted_not_faulted():
    from drpo_analysis.fuzz import adapters
    declared = adapters.make_target("plain", _token_mean_whatever_agg, method="pg_is", agg="token-mean")
    rep = fuzz(declared, seed=0, examples=4, checks=["aggregation_modes"])
    assert rep.ok and "ignored" in rep.checks[0]["detail"], rep.text()
    undeclared = adapters.make_target("plain", _token_mean_whatever_agg, method="pg_is")
    assert not fuzz(undeclared, seed=0, examples=4, checks=["aggregation_modes"]).ok


def test_identical_findings_are_listed_once_and_non_finite_got_is_the_gradient():
    rep = fuzz(plain.target(mutants.nan_times_zero, method="pg_is"), seed=0, examples=8, checks=["padding"])
    keys = [(f.check, f.kind, f.severity, f.explanation, f.message) for f in rep.findings]
    assert len(keys) == len(set(keys)) and "," in rep.findings[0].sub_check, rep.text()
    for f in rep.findings:
        if f.kind == "non-finite" and math.isfinite(f.got if f.got is not None else math.nan):
            raise AssertionError(f"finite got {f.got!r} for a non-finite finding")


def test_large_batch_catches_a_size_dependent_path_and_names_the_batch_by_its_seed():
    """A loss that skips the tail of its chunked large-batch path passes every small batch; the
    gradient check's large batch catches it, and the finding rebuilds that batch from a seed (a few
    hundred characters) instead of listing its ~9,000 log-probs; the reproducer still fails."""
    from pathlib import Path
    path = Path(__file__).parent / "corpus" / "mutants" / "rt2_chunked_drops_tail.py"
    rep = fuzz(plain.load(f"{path}:ppo_loss", method="ppo_clip", params={"eps_low": 0.2, "eps_high": 0.28}),
               checks=["gradient"])
    (f,) = [f for f in rep.findings if f.severity == "deviates"]
    assert f.sub_check.startswith("large batch") and f.counterexample["batch"].startswith("large_batch(")
    assert len(f.reproducer) < 1000
    with pytest.raises(AssertionError, match="does not conform"):
        exec(f.reproducer, {})


def test_float16_ratio_overflow_on_rare_tokens_is_an_edge_case_not_silence():
    """A loss that computes exp(ℓ − ℓ_μ) in the inputs' float16 gives inf on a rare token (log r ≈ 12);
    the dtype check shows it as an edge case with the upcast fix, and an upcasting loss is silent."""
    def no_upcast(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28):
        r = torch.exp(torch.where(mask, logp - logp_mu, torch.zeros_like(logp)))
        per_token = -torch.min(r * adv, r.clamp(1 - eps_low, 1 + eps_high) * adv)
        return torch.where(mask, per_token, torch.zeros_like(per_token)).float().sum() / mask.sum().clamp(min=1)

    def upcast(logp, logp_mu, adv, mask, **params):
        return no_upcast(logp.float(), logp_mu.float(), adv.float(), mask, **params)

    params = {"eps_low": 0.2, "eps_high": 0.28}
    found = fuzz(plain.target(no_upcast, method="ppo_clip", params=params), checks=["dtype"]).findings
    assert [f.severity for f in found] == ["edge case"] and "upcast" in found[0].explanation
    assert found[0].sub_check.startswith("float16, rare tokens")
    assert not fuzz(plain.target(upcast, method="ppo_clip", params=params), checks=["dtype"]).findings
