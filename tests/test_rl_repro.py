"""paper_repro pipeline: the smoke matrix end to end, resumability, and the verdict rules."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from drpo_analysis.reporting import rl_report as report


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_repro_smoke_end_to_end_and_resume(tmp_path, capsys):
    from drpo_analysis import cli

    args = ["repro", "--smoke", "--workers", "1", "--json", "--runs-root", str(tmp_path)]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    # smoke: 2 sweep cells x 2 methods; 4 groups x 2 entries x 2 seeds; 1 precision x 2 seeds
    assert out["ran"]["sweep"] == 4 and out["ran"]["matrix"] == 16 and out["ran"]["precision"] == 2
    assert [c["claim"] for c in out["claims"]] == list("1234567")
    assert all(c["verdict"] for c in out["claims"])
    text = (tmp_path / "repro-smoke" / "results" / "REPORT.md").read_text()
    assert text.count("**Verdict:") == 7 and "Rule:" in text
    # finished runs are never recomputed
    assert cli.main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["ran"] == {"sweep": 0, "matrix": 0, "precision": 0}


def _run(method, seed, reward, shift=0.01, params=None):
    """A synthetic run summary with a constant reward / shift curve."""
    T = 8
    return {"config": {"method": method, "params": params or {}, "seed": seed}, "status": "ok", "warm_acc": 0.3,
            "curves": {"reward/mean": [reward] * T, "shift/mean_abs": [shift] * T, "shift/max_abs": [10 * shift] * T,
                       "frac/masked": [0.0] * T},
            "eval": {"step": [0, T], "greedy_acc": [0.5, 0.5], "sampled_acc": [0.3, 0.3]}, "buckets": {}}


def _groups(spec):
    rng = np.random.default_rng(0)
    return report.by_label([_run(m, s, r + 0.005 * rng.standard_normal(), **kw)
                            for m, r, kw in spec for s in range(5)])


def test_claim5_rule_close_and_far():
    close = _groups([("drpo", 0.4, {}), ("mask_drpo", 0.4, {})])
    far = _groups([("drpo", 0.4, {}), ("mask_drpo", 0.1, {})])
    assert report.claim5(close)[0] == "reproduced"
    assert report.claim5(far)[0] == "not reproduced"


def test_claim1_rule_needs_growth_and_degradation():
    ok = _groups([("pg_is", 0.1, {"shift": 0.2}), ("cispo", 0.1, {"shift": 0.2}),
                  ("dppo_binary_tv", 0.4, {}), ("drpo", 0.4, {})])
    assert report.claim1(ok)[0] == "reproduced"
    flat = _groups([("pg_is", 0.4, {}), ("cispo", 0.4, {}), ("dppo_binary_tv", 0.4, {}), ("drpo", 0.4, {})])
    assert report.claim1(flat)[0] != "reproduced"


def test_claim6_spread_rule():
    sens = _groups([("dppo_binary_tv", 0.1, {"params": {"delta_low": 0.05, "delta_high": 0.05}}),
                    ("dppo_binary_tv", 0.4, {}), ("drpo", 0.4, {"params": {"delta": 0.15}}), ("drpo", 0.4, {})])
    labels = (["dppo_binary_tv (delta=0.05)", "dppo_binary_tv"], ["drpo (delta=0.15)", "drpo"])
    assert report.claim6(sens, *labels)[0] == "reproduced"
    insens = _groups([("dppo_binary_tv", 0.4, {"params": {"delta_low": 0.05, "delta_high": 0.05}}),
                      ("dppo_binary_tv", 0.4, {}), ("drpo", 0.1, {"params": {"delta": 0.15}}), ("drpo", 0.4, {})])
    assert report.claim6(insens, *labels)[0] == "not reproduced"


def test_bench_rows_are_ratios():
    from drpo_analysis.bench.rl import bench_model

    rows = bench_model(quick=True)
    assert len(rows) == 4
    for r in rows[:2]:
        assert r.floor > 0 and r.ratio > 0 and r.unit == "FLOP/s"
    for r in rows[2:]:
        assert (r.ratio is None and "skipped" in r.detail) or r.ratio > 0
