"""diagnose: readers, lint on real clean rollouts and planted defects, mismatch, what-if, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drpo_analysis.cli import main
from drpo_analysis.core import losses_np
from drpo_analysis.diagnose import defects, io, lint, run

FIX = Path(__file__).parent / "fixtures" / "rollouts"
CLEAN = {p: FIX / f"smollm2_{p}.npz" for p in ("bf16", "fp16", "fp8-e4m3")}
PLANTED = json.loads((FIX / "planted" / "planted.json").read_text())


def _arrays(p="bf16"):
    return dict(np.load(CLEAN[p]))


def _lint(path, **kw):
    return {f["check"]: f["rows"] for f in run.diagnose([path], specs=["pg_is"], **kw)["lint"]}


@pytest.mark.parametrize("precision", sorted(CLEAN))
def test_real_clean_rollouts_give_no_lint_finding(precision):
    assert _lint(CLEAN[precision]) == {}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_defect_is_found_in_exactly_its_rows(name):
    spec = PLANTED[name]
    found = _lint(FIX / "planted" / name)
    assert found == {spec["check"]: sorted(spec["rows"])}


def test_every_lint_check_has_a_planted_fixture():
    assert {s["check"] for s in PLANTED.values()} == set(lint.CHECKS)


@pytest.mark.parametrize("suffix", [".npz", ".pt", ".parquet", ".jsonl"])
def test_formats_read_back_the_same_report(tmp_path, suffix):
    a = _arrays()
    ref = run.diagnose([CLEAN["bf16"]], specs=["ppo_clip", "dppo_topk_tv"])
    got = run.diagnose([io.write(tmp_path / f"x{suffix}", a)], specs=["ppo_clip", "dppo_topk_tv"])
    assert got["tokens"] == ref["tokens"] > 1000
    for k, v in ref["totals"].items():
        if isinstance(v, float):
            assert got["totals"][k] == pytest.approx(v, rel=1e-9, abs=1e-15), k
    assert got["whatif"][0]["share_zeroed"] == ref["whatif"][0]["share_zeroed"]


def test_streaming_blocks_do_not_change_the_result():
    whole = run.diagnose([CLEAN["fp8-e4m3"]], rows=100_000)
    blocks = run.diagnose([CLEAN["fp8-e4m3"]], rows=3)
    assert whole["lint"] == blocks["lint"]
    for a, b in zip(whole["buckets"], blocks["buckets"]):
        for k, v in a.items():
            if isinstance(v, float):
                assert b[k] == pytest.approx(v, rel=1e-9, abs=1e-15)
    for a, b in zip(whole["whatif"], blocks["whatif"]):
        assert a.get("share_zeroed") == b.get("share_zeroed") and a["tokens"] == b["tokens"]


def test_externally_written_files_with_other_column_names(tmp_path):
    """Written by hand (json / pyarrow / torch directly), vLLM-ish names mapped with --columns:
    a clean JSONL gives nothing; a 0.0-filled log μ in rows 2 and 4 of a parquet is found there."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    a = _arrays("fp16")
    m = a["response_mask"].astype(bool)
    rows = [{"logprobs": a["old_log_probs"][i, m[i]].tolist(), "vllm_logprobs": a["rollout_log_probs"][i, m[i]].tolist(),
             "adv": float(a["advantages"][i, 0])} for i in range(len(m))]
    with open(tmp_path / "log.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    cols = ["--columns", "old_log_probs=logprobs", "--columns", "rollout_log_probs=vllm_logprobs",
            "--columns", "advantages=adv"]
    assert main([*"diagnose --json".split(), str(tmp_path / "log.jsonl"), *cols]) == 0
    for i in (2, 4):
        rows[i]["vllm_logprobs"] = [0.0] * len(rows[i]["vllm_logprobs"])
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "log.parquet")
    found = run.diagnose([tmp_path / "log.parquet"], specs=["pg_is"],
                         columns={"old_log_probs": "logprobs", "rollout_log_probs": "vllm_logprobs", "advantages": "adv"})
    assert {f["check"]: f["rows"] for f in found["lint"]} == {"zero_filled": [2, 4]}


def test_saved_torch_batch_with_bf16_tensors(tmp_path):
    import torch
    a = _arrays()
    torch.save({k: torch.from_numpy(v).to(torch.bfloat16) if v.dtype == np.float32 else torch.from_numpy(v)
                for k, v in a.items()}, tmp_path / "batch.pt")
    out = run.diagnose([tmp_path / "batch.pt"], specs=["ppo_clip"])
    assert out["tokens"] == int(a["response_mask"].sum())


def test_what_if_matches_the_registry_weights_token_by_token():
    a = _arrays("fp8-e4m3")
    m = a["response_mask"].astype(bool)
    ell, ell_mu, adv = (a[k][m].astype(np.float64) for k in ("old_log_probs", "rollout_log_probs", "advantages"))
    live = adv != 0
    assert live.sum() > 100
    out = {w["spec"]: w for w in run.diagnose([CLEAN["fp8-e4m3"]], specs=["ppo_clip", "dppo_binary_tv", "drpo"])["whatif"]}
    for name in out:
        w = losses_np.gradient_weight(name, ell[live], ell_mu[live], adv[live])
        assert out[name]["tokens"] == live.sum()
        assert out[name]["share_zeroed"] == pytest.approx((w == 0).mean())
        assert out[name]["share_reversed"] == pytest.approx((w < 0).mean())
    r = np.exp(ell - ell_mu)[live]
    clipped = ((adv[live] > 0) & (r > 1.28)) | ((adv[live] < 0) & (r < 0.8))
    assert out["ppo_clip"]["share_zeroed"] == pytest.approx(clipped.mean())


def test_every_registry_method_and_correction_runs_on_real_rollouts():
    out = run.diagnose([CLEAN["bf16"]])
    from drpo_analysis.core import methods
    specs = {w["spec"]: w for w in out["whatif"]}
    assert set(methods.names()) <= set(specs)
    assert all("skipped" not in w for w in specs.values())   # the fixture has top-K columns
    assert specs["pg_is"]["share_zeroed"] == 0 and specs["pg_is"]["share_mass_lost"] == 0


def test_approximations_never_exceed_the_exact_divergences():
    for p in CLEAN:
        t = run.diagnose([CLEAN[p]], specs=["pg_is"])["totals"]
        assert t["approx_above_exact"] == {"binary_tv": 0, "binary_kl": 0, "topk_tv": 0, "topk_kl": 0}
        assert t["mean_topk_tv"] <= t["mean_exact_tv"] and t["mean_binary_tv"] <= t["mean_topk_tv"]


def test_kl_estimators_by_bucket_match_a_direct_computation():
    a = _arrays()
    m = a["response_mask"].astype(bool)
    lr = (a["old_log_probs"][m] - a["rollout_log_probs"][m]).astype(np.float64)
    out = run.diagnose([CLEAN["bf16"]], specs=["pg_is"])
    assert out["totals"]["mean_k3"] == pytest.approx(np.mean(np.expm1(lr) - lr))
    assert out["totals"]["mean_k1"] == pytest.approx(np.mean(-lr))
    assert sum(b["tokens"] for b in out["buckets"]) == m.sum()


def test_several_files_give_per_step_trends(tmp_path):
    out = run.diagnose([CLEAN["bf16"], CLEAN["fp16"], CLEAN["fp8-e4m3"]], specs=["ppo_clip"])
    assert [Path(s["file"]).name for s in out["steps"]] == [p.name for p in CLEAN.values()]
    assert out["tokens"] == sum(s["tokens"] for s in out["steps"])


def test_cli_contract(tmp_path, capsys):
    assert main(["diagnose", "--json", str(CLEAN["bf16"])]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= {"tokens", "lint", "buckets", "whatif"}
    assert main(["diagnose", "--json", str(FIX / "planted" / "shifted.npz")]) == 1
    finding = json.loads(capsys.readouterr().out)["lint"][0]
    assert set(finding) >= {"check", "rows", "detail"} and finding["check"] == "shifted"
    for bad in (["diagnose", str(tmp_path / "missing.npz")], ["diagnose", str(CLEAN["bf16"]), "--method", "nope"],
                ["diagnose", str(CLEAN["bf16"]), "--columns", "bogus=x"], ["diagnose", str(FIX / "make_fixtures.py")]):
        with pytest.raises(SystemExit) as e:
            main(bad)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0]


def test_missing_required_column_is_a_usage_error(tmp_path, capsys):
    a = _arrays()
    del a["rollout_log_probs"]
    path = io.write(tmp_path / "x.npz", a)
    with pytest.raises(SystemExit) as e:
        main(["diagnose", str(path)])
    assert e.value.code == 2 and "rollout_log_probs" in capsys.readouterr().err


def test_plant_rejects_unknown_checks():
    with pytest.raises(ValueError, match="unknown check"):
        defects.plant(_arrays(), "nope", [0])


def test_audit_real_model_findings_follow_their_rules():
    from drpo_analysis.claims import empirical as emp
    ev = emp.Evidence()
    assert ev.real is not None, "paper_repro/real_model/mismatch.json is committed"
    share = [f for f in emp.rare_token_share(ev) if f.source == "real model"][0]
    shares = [p["share_mu_le_0.01"] for p in ev.real["precisions"].values()]
    inside = [0.039 <= x <= 0.156 for x in shares]
    assert share.verdict == ("reproduced" if all(inside) else "not reproduced" if not any(inside) else "inconclusive")
    fig2 = [f for f in emp.fig2_ratio_volatile(ev) if f.source == "real model"][0]
    assert fig2.verdict in emp.EMPIRICAL_VERDICTS and "mismatch.json" in fig2.pointer


def test_blocks_are_bounded_in_positions(monkeypatch, tmp_path):
    """Long responses get fewer rows per block (memory bound), without changing the result."""
    a = _arrays()
    path = io.write(tmp_path / "x.npz", a)
    T = a["response_mask"].shape[1]
    monkeypatch.setattr(io, "BLOCK_TOKENS", 5 * T)
    sizes = [b["response_mask"].shape[0] for b in io.iter_chunks(path, rows=1000)]
    assert max(sizes) == 5 and sum(sizes) == len(a["response_mask"])
    small = run.diagnose([path], specs=["ppo_clip"])
    monkeypatch.undo()
    assert small["totals"]["mean_k3"] == pytest.approx(run.diagnose([path], specs=["ppo_clip"])["totals"]["mean_k3"])


def _linted(arrays):
    linter = lint.Linter()
    linter.update(arrays, 0)
    return {f["check"]: f for f in linter.findings()}


def _with_certain_tail(arrays, rows, k):
    """Responses ending with k certain tokens: real token ids, log-prob exactly 0.0 under both
    policies (a forced end-of-turn tail), the mask unchanged."""
    a = {key: np.array(v, copy=True) for key, v in arrays.items()}
    m = a["response_mask"].astype(bool)
    for i in rows:
        n = int(m[i].sum())
        a["rollout_log_probs"][i, n - k:n] = 0.0
        a["old_log_probs"][i, n - k:n] = 0.0
    return a


@pytest.mark.parametrize("drop_tokens", [False, True])
def test_a_certain_tail_is_not_read_as_padding(drop_tokens):
    a = _arrays()
    m = a["response_mask"].astype(bool)
    stopped = [i for i in range(m.shape[0]) if 4 < m[i].sum() < m.shape[1]][:4]
    a = _with_certain_tail(a, stopped, 3)
    a["rollout_log_probs"][~m] = 0.0       # verl pads log-probs with 0.0
    a["old_log_probs"][~m] = 0.0
    if drop_tokens:
        del a["responses"]
    assert _linted(a) == {}
    # the same rows with the mask run two positions into the padding are still found
    planted = defects.plant(a, "mask_mismatch", [stopped[0], stopped[2]]) if not drop_tokens else None
    if planted is not None:
        assert _linted(planted)["mask_mismatch"]["rows"] == [stopped[0], stopped[2]]


def test_padding_without_token_ids_is_found_by_a_non_zero_padding_constant():
    a = _arrays()
    del a["responses"]
    m = a["response_mask"].astype(bool)
    a["rollout_log_probs"][~m] = -1.0
    a["old_log_probs"][~m] = -1.0
    rows = [i for i in range(m.shape[0]) if m[i].sum() < m.shape[1] - 2][:2]
    for i in rows:
        n = int(m[i].sum())
        a["response_mask"][i, n:n + 2] = 1
    assert _linted(a)["mask_mismatch"]["rows"] == rows


def test_a_shift_through_certain_tokens_is_reported_as_shifted_only():
    a = _arrays()
    m = a["response_mask"].astype(bool)
    rows = [i for i in range(m.shape[0]) if m[i].sum() >= 20][:3]
    for i in rows:                   # certain tokens inside the response, then log mu sliced late
        a["rollout_log_probs"][i, [5, 11]] = 0.0
        a["old_log_probs"][i, [5, 11]] = 0.0
    found = _linted(defects.plant(a, "shifted", rows))
    assert set(found) == {"shifted"} and found["shifted"]["rows"] == rows
    assert "not reported again as zero_filled" in found["shifted"]["detail"]
    # a row both shifted and zero-filled elsewhere keeps its zero_filled finding
    both = defects.plant(a, "shifted", rows)
    both["rollout_log_probs"][rows[0], 15] = 0.0
    assert _linted(both)["zero_filled"]["rows"] == [rows[0]]
