"""paper_repro pipeline: the smoke matrix end to end, resumability, the fit, and the verdict rules."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from drpo_analysis.reporting import rl_report as report

SYNTHETIC = str(Path(__file__).parent / "data" / "mismatch_synthetic.json")
PRIMARY = json.loads((Path(__file__).parents[1] / "paper_repro" / "matrix.json").read_text())["primary"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_repro_smoke_end_to_end_and_resume(tmp_path, capsys):
    from drpo_analysis import cli

    args = ["repro", "--smoke", "--workers", "1", "--json", "--runs-root", str(tmp_path), "--measurement", SYNTHETIC]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    # smoke: 2 sweep cells x 2 methods; 4 groups x 2 entries x 2 seeds; 1 precision x 2 seeds
    assert out["ran"] == {"fit": 1, "sweep": 4, "matrix": 16, "precision": 2}
    assert [c["claim"] for c in out["claims"]] == ["1", "1b", "2", "3", "4", "5", "6", "7"]
    if not out["gate"]["passed"]:  # 4 smoke steps do not learn: no training claim may get a verdict
        assert all(c["verdict"] == report.NOT_JUDGED for c in out["claims"] if c["claim"] != "7")
    text = (tmp_path / "repro-smoke" / "results" / "REPORT.md").read_text()
    assert "## Learning gate" in text and text.count("**Verdict:") == 8
    fit = json.loads((tmp_path / "repro-smoke" / "results" / "fit.json").read_text())
    assert set(fit["noise"]) == {"bf16", "fp8"} and fit["task"]["free"] >= 1
    # finished runs are never recomputed, the fit is kept
    assert cli.main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["ran"] == {"sweep": 0, "matrix": 0, "precision": 0}


def test_repro_without_measurement_is_a_usage_error(tmp_path, capsys):
    from drpo_analysis import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["repro", "--smoke", "--runs-root", str(tmp_path), "--measurement", str(tmp_path / "no.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no real-model measurement" in err and len(err.strip().splitlines()) == 1


def _run(method, seed, reward, shift=0.01, params=None, gain=0.0):
    """A synthetic run summary with a constant reward / shift curve."""
    T = 8
    return {"config": {"method": method, "params": params or {}, "seed": seed}, "status": "ok", "warm_acc": 0.3,
            "curves": {"reward/mean": [reward] * T, "shift/mean_abs": [shift] * T, "shift/max_abs": [10 * shift] * T,
                       "frac/masked": [0.0] * T},
            "eval": {"step": [0, T], "greedy_acc": [0.5, 0.5], "sampled_acc": [0.3, 0.3 + gain]}, "buckets": {}}


def _groups(spec, seeds=5):
    rng = np.random.default_rng(0)
    return report.by_label([_run(m, s, r + 0.005 * rng.standard_normal(), **kw)
                            for m, r, kw in spec for s in range(seeds)])


def test_gate_needs_every_method_to_learn():
    rng = np.random.default_rng(1)
    learn = report.by_label([_run(m, s, 0.3, gain=0.1 + 0.01 * rng.standard_normal()) for m in ("pg_is", "drpo")
                             for s in range(3)])
    assert report.learning_gate(learn, PRIMARY["gate"], 0.05)["passed"]
    flat = report.by_label([_run("pg_is", s, 0.3, gain=0.1 + 0.01 * rng.standard_normal()) for s in range(3)] +
                           [_run("drpo", s, 0.3, gain=0.01 * rng.standard_normal()) for s in range(3)])
    gate = report.learning_gate(flat, PRIMARY["gate"], 0.05)
    assert not gate["passed"] and [r["passed"] for r in gate["rows"]] == [False, True]
    small = report.by_label([_run("pg_is", s, 0.3, gain=0.02 + 0.001 * s) for s in range(3)])
    assert not report.learning_gate(small, PRIMARY["gate"], 0.05)["passed"]  # CI > 0 but below min_gain


def test_claim1_family_with_holm():
    ok = _groups([("pg_is", 0.1, {"shift": 0.2}), ("cispo", 0.1, {"shift": 0.2}), ("dppo_binary_tv", 0.4, {})])
    verdict, comps = report.claim_family(ok, PRIMARY["1"], 0.05)
    assert verdict == "reproduced" and all(c["p_holm"] >= c["p"] for c in comps)
    reversed_ = _groups([("pg_is", 0.4, {}), ("cispo", 0.4, {}), ("dppo_binary_tv", 0.1, {"shift": 0.2})])
    assert report.claim_family(reversed_, PRIMARY["1"], 0.05)[0] == "not reproduced"
    assert report.claim_family(_groups([("pg_is", 0.4, {})]), PRIMARY["1"], 0.05)[0] == "inconclusive"


def test_equivalence_by_tost():
    close = _groups([("drpo", 0.4, {}), ("mask_drpo", 0.4, {})])
    far = _groups([("drpo", 0.4, {}), ("mask_drpo", 0.1, {})])
    assert report.equivalence(close, "mask_drpo", "drpo", "auc", 0.03, 0.05)[0] == "reproduced"
    verdict, c = report.equivalence(far, "mask_drpo", "drpo", "auc", 0.03, 0.05)
    assert verdict == "not reproduced" and c["p_tost"] > 0.5


def test_claim6_ranges_over_equal_log_span_grids():
    dppo, drpo = PRIMARY["6"]["dppo_binary_tv"], PRIMARY["6"]["drpo"]
    assert np.isclose(np.log(dppo[-1] / dppo[0]), np.log(drpo[-1] / drpo[0]), rtol=1e-3)

    def runs(dppo_rewards, drpo_rewards):
        spec = [("dppo_binary_tv", r, {"params": {"delta_low": d, "delta_high": d}}) for d, r in zip(dppo, dppo_rewards)]
        spec += [("drpo", r, {"params": {"delta": d}}) for d, r in zip(drpo, drpo_rewards)]
        return _groups(spec)
    assert report.claim6_family(runs([0.1, 0.4, 0.3], [0.4, 0.4, 0.4]), PRIMARY["6"], 0.05)[0] == "reproduced"
    assert report.claim6_family(runs([0.4, 0.4, 0.4], [0.1, 0.4, 0.3]), PRIMARY["6"], 0.05)[0] == "not reproduced"


def test_bench_rows_are_ratios():
    from drpo_analysis.bench.rl import bench_model

    rows = bench_model(quick=True)
    assert len(rows) == 4
    for r in rows[:2]:
        assert r.floor > 0 and r.ratio > 0 and r.unit == "FLOP/s"
    for r in rows[2:]:
        assert (r.ratio is None and "skipped" in r.detail) or r.ratio > 0
