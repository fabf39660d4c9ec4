"""The core benchmarks run through the CLI harness in quick mode and emit the JSON shape of docs/design.md
(timings are not asserted: they are benchmarks, not tests)."""
import json

from drpo_analysis.bench import core as bench_core

from drpo_analysis import cli

from drpo_analysis.core import methods

KEYS = {"name", "value", "unit", "floor", "ratio", "target", "ok", "detail"}


def test_bench_core_quick_json_shape(capsys, monkeypatch):
    monkeypatch.setattr(bench_core, "WEIGHT_TOKENS", (10_000_000, 20_000))
    monkeypatch.setattr(bench_core, "TORCH_TOKENS", (1_000_000, 5_000))
    code = cli.main(["bench", "--only", "core", "--quick", "--json"])
    rows = json.loads(capsys.readouterr().out)["benchmarks"]
    assert code in (0, 1)                       # 1 = a target missed, still a valid report
    assert code == (1 if any(r["ok"] is False for r in rows) else 0)
    by_name = {r["name"]: r for r in rows}
    assert {f"numpy_weight/{m}" for m in methods.names()} <= set(by_name)
    assert {"torch_drpo_vs_naive_ppo", "torch_ppo_clip_vs_naive_ppo", "prove_wall_time"} <= set(by_name)
    for r in rows:
        assert set(r) == KEYS
        if r["value"] is not None and r["floor"]:
            assert r["ratio"] == r["value"] / r["floor"]
    for m in methods.names():
        r = by_name[f"numpy_weight/{m}"]
        assert r["unit"] == "tokens/s" and r["target"] == ">= 0.40" and r["ok"] == (r["ratio"] >= 0.40)
    assert by_name["prove_wall_time"]["value"] is None    # never run in --quick
    assert by_name["prove_wall_time"]["detail"] in ("skipped in --quick", "prove not available")
