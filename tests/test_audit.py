"""The claims audit: coverage of docs/claims.md, verdicts decided by the proofs, paper numbers,
and the committed paper_repro/CLAIMS.md is what the command generates."""
import json
from fractions import Fraction
from pathlib import Path

import pytest

from drpo_analysis.claims import audit, proving

from drpo_analysis import cli

ROOT = Path(__file__).resolve().parent.parent
PROOF_IDS = {c.id for c in proving.discover()}
# Two expensive proofs (run in test_proofs.py) are stood in for by their status here.
HEAVY = ("autograd_matches_derived", "weight_matches_gradient_exact")


def fake(status="proved", **overrides):
    """Proof results for every proof id: ``status`` unless overridden."""
    out = {}
    for pid in PROOF_IDS:
        st = overrides.get(pid, status)
        out[pid] = proving.ProofResult(st, "stand-in", {"x": "counterexample"} if st == "failed" else None)
    return out


def test_every_claim_well_formed_and_cites_existing_proofs():
    ids = [c.id for c in audit.CLAIMS]
    assert len(ids) == len(set(ids))
    for c in audit.CLAIMS:
        assert set(c.proofs) <= PROOF_IDS, c.id
        assert c.assess is not None and c.source and c.claim
    rows = audit.assess_all(fake())
    assert {r["verdict"] for r in rows} <= set(audit.VERDICTS)
    for r in rows:
        assert set(r) >= {"id", "source", "claim", "verdict", "regime", "evidence"}
        if r["verdict"] == "not evaluated here":
            assert "drpo-analysis" in r["evidence"] or "reported setting" in r["regime"]


def test_reference_claims_covered():
    """Each claim docs/claims.md lists has a row (by a phrase of the claim)."""
    text = " ".join(c.claim for c in audit.CLAIMS)
    for phrase in ("same trust-region geometry", "Bounded weights", "continuous", "diverging update",
                   "corrective", "converging update", "Σ_a |Â(a)| (π(a) − μ(a))²", "μ(1 + sε)",
                   "unbounded as μ → 0", "δ = 12.5", "Mask-DRPO", "|Â|", "KL / TV / K3", "7.8%",
                   "½ E_{a∼μ}|r − 1|", "2·TV", "lower bounds", "Theorem" if False else "L′_μ(π) − Δ(μ, π)",
                   "2ξT(T−1)", "4ξ", "r = 100", "volatile", "misfire on rare tokens", "collapse", "smooth and bounded",
                   "roughly 0.4", "exactly 0 at 1.5δ", "CISPO", "two gradient forms", "DRO"):
        assert phrase in text, phrase


def test_verdicts_follow_the_proofs():
    by_id = {r["id"]: r for r in audit.assess_all(fake())}
    assert by_id["drpo.bounded_weights"]["verdict"] == "holds"
    assert by_id["drpo.same_geometry"]["verdict"] == "holds only in a stated regime"
    broken = {r["id"]: r for r in audit.assess_all(fake(drpo_weight_bounds="failed"))}
    assert broken["drpo.bounded_weights"]["verdict"] == "fails"
    assert "counterexample" in broken["drpo.bounded_weights"]["evidence"]
    errored = {r["id"]: r for r in audit.assess_all(fake(pinsker="error"))}
    assert errored["dppo.pinsker"]["verdict"] == "not evaluated here"
    explainer = {r["id"]: r for r in audit.assess_all(fake(explainer_weight_near_one_then_0_4="failed"))}
    assert explainer["explainer.near_one_then_0_4"]["verdict"] == "fails"


def test_numbers_at_the_papers_hyperparameters():
    assert audit.drpo_range(Fraction(25, 2)) == (Fraction(23, 25), Fraction(27, 25))
    assert audit.drpo_range(Fraction(3, 20)) == (Fraction(-17, 3), Fraction(23, 3))
    assert audit.drpo_weight(Fraction(25, 2), Fraction(3, 20)) == Fraction(247, 250)
    assert audit.drpo_weight(Fraction(3, 20), Fraction(9, 40)) == Fraction(-1, 2)
    assert audit.reference_table_mismatches(n=500)[0] is None


def test_unknown_ids_rejected():
    with pytest.raises(ValueError, match="unknown audit claim"):
        audit.assess_all(fake(), ["nope"])
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "nope", "--no-write"])
    assert exc.value.code == 2


def test_command_json_subset(capsys):
    assert cli.main(["audit", "drpo.bounded_weights", "explainer.near_one_then_0_4", "--no-write", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert verdicts == {"drpo.bounded_weights": "holds", "explainer.near_one_then_0_4": "fails"}


def test_committed_claims_md_is_current():
    """Regenerate CLAIMS.md (cheap proofs run for real, the two heavy ones by status) and compare."""
    ids = sorted(set(audit.proof_ids()) - set(HEAVY))
    runs = proving.run_claims(proving.discover(ids=ids), timeout=120)
    results = {**fake(), **{h: proving.ProofResult(proving.NO_COUNTEREXAMPLE, "stand-in") for h in HEAVY},
               **{r.claim.id: r.result for r in runs}}
    assert all(r.result.status in ("proved", "failed") for r in runs)  # the heavy ones are the sampled ones
    md = audit.to_markdown(audit.assess_all(results))
    assert md == (ROOT / "paper_repro" / "CLAIMS.md").read_text(encoding="utf-8"), \
        "paper_repro/CLAIMS.md is stale: run `drpo-analysis audit`"


# ---- empirical rows: judged from committed result files -------------------------------------------
from drpo_analysis.claims import empirical as emp  # noqa: E402
from drpo_analysis.reporting import rl_report as report  # noqa: E402

EMPIRICAL = {"drpo.no_abs_adv_worse", "drpo.kl_tv_k3_worse", "drpo.main_curves", "drpo.stability_vs_dppo",
             "drpo.delta_sensitivity", "drpo.mask_drpo_close", "drpo.rare_token_share", "dppo.fig2_ratio_volatile",
             "dppo.collapse", "dppo.bypass_anchor", "dppo.ratio_clip_rare_tokens"}
NEW_EMPIRICAL = {"dppo.collapse_large_shift_updates", "dppo.binary_kl_topk_comparable", "dppo.entropy_length_trends",
                 "explainer.long_tail_crosses_boundary", "drpo.fp8_robustness"}


@pytest.mark.parametrize("verdicts, expected", [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "not evaluated here"], "reproduced"),
    (["reproduced", "inconclusive"], "reproduced only in some regimes"),
    (["reproduced", "not reproduced"], "reproduced only in some regimes"),
    (["inconclusive", "not reproduced"], "not reproduced"),
    (["inconclusive", "inconclusive"], "inconclusive"),
    (["not evaluated here"], "not evaluated here"),
])
def test_combine(verdicts, expected):
    assert emp.combine([emp.Finding(f"s{i}", v, "", "") for i, v in enumerate(verdicts)]) == expected


def test_missing_results_fall_back_to_not_evaluated(tmp_path):
    rows = {r["id"]: r for r in audit.assess_all(fake(), sorted(EMPIRICAL | NEW_EMPIRICAL), root=tmp_path)}
    assert set(rows) == EMPIRICAL | NEW_EMPIRICAL
    for r in rows.values():
        assert r["verdict"] == "not evaluated here", r["id"]
        assert "missing; produced by `drpo-analysis" in r["evidence"], r["id"]
    assert "`drpo-analysis repro`" in rows["dppo.collapse"]["evidence"]
    assert "`drpo-analysis figures sim_dynamics`" in rows["dppo.collapse"]["evidence"]
    # one source present: the row is judged from it alone and names what is missing
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "sim_vocab.json").write_text((ROOT / "figures" / "sim_vocab.json").read_text())
    row = audit.assess_all(fake(), ["drpo.rare_token_share"], root=tmp_path)[0]
    assert row["verdict"] in audit.EMPIRICAL_VERDICTS
    assert "RL matrix: not evaluated here" in row["regime"] and "simulation: " + row["verdict"] in row["regime"]


@pytest.fixture(scope="module")
def committed_rows():
    return {r["id"]: r for r in audit.assess_all(fake(), sorted(EMPIRICAL))}


def test_rl_verdicts_are_the_reports(committed_rows):
    """Each RL finding's verdict is the committed claims.json's (the report's rules), and claims.json is
    what drpo_analysis.reporting.rl_report computes from the committed run summaries."""
    results = ROOT / emp.RL_REGIMES["matrix"][0]
    if not (results / "claims.json").exists():
        pytest.skip(f"{results}/claims.json not committed")
    data = json.loads((results / "claims.json").read_text())
    primary = json.loads((ROOT / "paper_repro" / "matrix.json").read_text())["primary"]
    fresh = report.to_json_data(report.evaluate(str(results), primary))
    assert fresh == data, "paper_repro/results/claims.json is stale: run `drpo-analysis repro --phase report`"
    v = {c["id"]: c["verdict"] if c["verdict"] in emp.EMPIRICAL_VERDICTS else "inconclusive" for c in data["claims"]}
    expected = {"dppo.collapse": v["1"], "drpo.stability_vs_dppo": v["2"], "dppo.ratio_clip_rare_tokens": v["3"],
                "drpo.mask_drpo_close": v["5"], "drpo.delta_sensitivity": v["6"]}
    for rid, verdict in expected.items():
        assert f"RL matrix: {verdict}" in committed_rows[rid]["regime"], rid
    assert f"RL (model at identical weights): {v['7']}" in committed_rows["dppo.fig2_ratio_volatile"]["regime"]
    if not data["gate"]["passed"]:
        for rid in ("drpo.no_abs_adv_worse", "drpo.kl_tv_k3_worse", "drpo.main_curves"):
            assert "RL matrix: inconclusive" in committed_rows[rid]["regime"], rid
    assert committed_rows["dppo.bypass_anchor"]["verdict"] == emp.NOT_EVALUATED  # no π_old-anchored runs
    for r in committed_rows.values():
        assert r["verdict"] in audit.EMPIRICAL_VERDICTS and r["at_paper_hyperparameters"] != "see there" \
            or r["verdict"] == emp.NOT_EVALUATED
        assert r["verdict"] == emp.combine([emp.Finding(**x) for x in r["findings"]])


def _rec(**rewards):
    """A dynamics-sweep record with final-reward CIs (mean ± 0.05) per method."""
    return {"overrides": {"lr": 1.0}, "methods": list(rewards), "summary": [
        {"method": m, "final_reward_pi": x, "ci_low": x - 0.05, "ci_high": x + 0.05, "collapse_rate": 0.0}
        for m, x in rewards.items()]}


def test_simulation_rule():
    assert emp._sim_vs([_rec(drpo=0.6, pg_kl=0.3)], "drpo", ("pg_kl",))[0] == "reproduced"
    assert emp._sim_vs([_rec(drpo=0.6, pg_kl=0.3), _rec(drpo=0.4, pg_kl=0.38)], "drpo", ("pg_kl",))[0] == "inconclusive"
    assert emp._sim_vs([_rec(drpo=0.6, pg_kl=0.3), _rec(drpo=0.2, pg_kl=0.5)], "drpo", ("pg_kl",))[0] == "not reproduced"


def _vocab_res(mismatch, rare_pos, rare_neg, top=0.0, dppo=0.0, shift=0.01):
    """A sim_vocab result with one rare (μ ≤ 0.1) and one common (μ > 0.5) bucket of 100 tokens each."""
    def bucket(name, pos, neg, d):
        return {"bucket": name, "count": 100, "abs_shift_max": shift, "masked_ppo_clip_pos": pos,
                "masked_ppo_clip_neg": neg, "masked_dppo_binary_tv_pos": d, "masked_dppo_binary_tv_neg": d}
    return {"mismatch": mismatch, "buckets": [bucket("(0.01, 0.1]", rare_pos, rare_neg, dppo),
                                              bucket("(0.5, 1]", top, top, 0.0)]}


def test_simulation_clip_misfire_rule():
    rule = lambda *res: emp._sim_clip_misfire(list(res))[0]  # noqa: E731
    silent = _vocab_res("bf16", 0.0, 0.0)
    assert rule(_vocab_res("fp8", 0.2, 0.4), silent) == "reproduced"          # models that clip nothing: no vote
    assert rule(silent) == "inconclusive"
    assert rule(_vocab_res("fp8", 0.1, 0.1, top=0.3)) == "not reproduced"     # clips common tokens more
    assert rule(_vocab_res("fp8", 0.2, 0.4, dppo=0.5)) == "not reproduced"    # DPPO masks rare tokens more
    assert rule(_vocab_res("fp8", 0.2, 0.4, shift=0.2)) == "not reproduced"   # rare mass did move past δ
    assert rule(_vocab_res("fp8", 0.2, 0.4), _vocab_res("t", 0.0, 0.1, top=0.3)) == "inconclusive"
    assert "PPO-clip masks no sampled token under bf16" in emp._sim_clip_misfire([silent])[1]


# --- rules of the rows added for the remaining claims, on small synthetic data -------------------

def _run(seed, reward, *, entropy=(1.0, 1.0), length=(3.0, 3.0), speed=100.0, max_shift=(0.1, 0.1), status="ok"):
    """A minimal run record in the RL run-JSON format (8 steps)."""
    lin = lambda a, b: list(np.linspace(a, b, 8))  # noqa: E731
    return {"config": {"seed": seed}, "status": status,
            "curves": {"reward/mean": lin(*reward), "shift/mean_abs": lin(0.01, 0.01), "shift/max_abs": lin(*max_shift),
                       "frac/masked": lin(0, 0), "entropy/mean": lin(*entropy), "response/length_mean": lin(*length),
                       "perf/train_tokens_per_s": lin(speed, speed)},
            "eval": {"greedy_acc": [0.5], "sampled_acc": [0.5]}}


import numpy as np  # noqa: E402  (used by the synthetic runs above)

from drpo_analysis.claims import empirical as emp  # noqa: E402


def test_masked_rare_share_rule():
    def rows(rare, common):
        return [{"buckets": [{"bucket": "(0, 0.01]", "count": 100, "masked_dppo_binary_tv_pos": rare / 100},
                             {"bucket": "(0.5, 1]", "count": 100, "masked_dppo_binary_tv_neg": common / 100}]}]
    assert emp.masked_rare_share(rows(rare=30, common=2))[0] == "reproduced"
    assert emp.masked_rare_share(rows(rare=1, common=20))[0] == "not reproduced"
    assert emp.masked_rare_share(rows(rare=1, common=2))[0] == "inconclusive"
    # the committed simulation: DPPO's masked tokens are common ones
    by_id = {r["id"]: r for r in audit.assess_all(fake(), ["explainer.long_tail_crosses_boundary"])}
    assert by_id["explainer.long_tail_crosses_boundary"]["verdict"] == "not reproduced"


def test_trend_rule():
    stable = [_run(s, (0, 1)) for s in range(4)]
    drifting = [_run(s, (0, 1), entropy=(1.0, 1.5 + 0.1 * s), length=(3.0, 4.0 + 0.1 * s)) for s in range(4)]
    groups = {m: drifting for m in emp.NO_TR} | {m: stable for m in emp.TR}
    assert emp.trend_verdict(groups)[0] == "reproduced"
    assert emp.trend_verdict({m: stable for m in emp.NO_TR} | {m: drifting for m in emp.TR})[0] == "not reproduced"


def test_comparable_and_fp8_rules_turn_into_verdicts_when_runs_exist():
    base = [_run(s, (0.2, 0.6 + 0.01 * s)) for s in range(4)]
    same = [_run(s, (0.2, 0.6 + 0.01 * s + 0.001)) for s in range(4)]
    worse = [_run(s, (0.0, 0.1 + 0.01 * s)) for s in range(4)]
    slow = [_run(s, (0.2, 0.6 + 0.01 * s), speed=50.0) for s in range(4)]
    assert emp.comparable_verdict({"dppo_binary_tv": base}) is None              # files missing → not evaluated
    assert emp.comparable_verdict({"dppo_binary_tv": base, "dppo_binary_kl": same, "dppo_topk_tv": same})[0] == "reproduced"
    assert emp.comparable_verdict({"dppo_binary_tv": base, "dppo_binary_kl": worse, "dppo_topk_tv": same})[0] == \
        "not reproduced"
    assert emp.comparable_verdict({"dppo_binary_tv": base, "dppo_binary_kl": slow, "dppo_topk_tv": same})[0] == \
        "not reproduced"
    assert emp.fp8_verdict(same, base)[0] == "reproduced"
    assert emp.fp8_verdict(worse, base)[0] == "not reproduced"
    assert emp.fp8_verdict([dict(r, status="diverged") for r in same], base)[0] == "not reproduced"


def test_missing_run_files_are_named(tmp_path):
    (found,) = emp.fp8_robustness(emp.Evidence(tmp_path))
    assert found.verdict == "not evaluated here" and emp.FP8_RUNS in found.text
    by_id = {r["id"]: r for r in audit.assess_all(fake(), ["dppo.binary_kl_topk_comparable", "drpo.fp8_robustness"])}
    assert emp.BINARY_KL_RUNS in by_id["dppo.binary_kl_topk_comparable"]["evidence"]
    assert by_id["drpo.fp8_robustness"]["verdict"] == "not evaluated here"


def test_sampled_proofs_give_no_counterexample_verdict_and_theorems_hold():
    sampled = fake(autograd_matches_derived=proving.NO_COUNTEREXAMPLE,
                   weight_matches_gradient_exact=proving.NO_COUNTEREXAMPLE)
    by_id = {r["id"]: r for r in audit.assess_all(sampled)}
    assert by_id["drpo.table1_weights"]["verdict"] == "no counterexample found"
    assert by_id["gspo.two_forms"]["verdict"] == "no counterexample found"
    assert by_id["dppo.theorem_3_2"]["verdict"] == "holds"
    assert by_id["dppo.theorem_3_2b_tight_constants"]["verdict"] == "holds"
    assert by_id["explainer.corrective_signal_stability"]["verdict"] == "fails"
    failed = {r["id"]: r for r in audit.assess_all(fake(explainer_masked_token_stays="failed"))}
    assert failed["explainer.masked_token_stays"]["verdict"] == "fails"


def test_real_model_rare_share_rule_on_a_synthetic_file(tmp_path):
    ok = lambda x: 0.039 <= x <= 0.156  # noqa: E731
    missing = emp.real_model_rare_share(emp.Evidence(tmp_path), ok)
    assert missing.verdict == "not evaluated here" and emp.REAL_MODEL[0] in missing.text
    path = tmp_path / emp.REAL_MODEL[0]
    path.parent.mkdir(parents=True)
    for shares, verdict in (((0.08, 0.09), "reproduced"), ((0.216, 0.229), "not reproduced"),
                            ((0.08, 0.229), "inconclusive")):
        path.write_text(json.dumps({"precisions": {f"p{i}": {"share_mu_le_0.01": x} for i, x in enumerate(shares)}}))
        assert emp.real_model_rare_share(emp.Evidence(tmp_path), ok).verdict == verdict
