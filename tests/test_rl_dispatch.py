"""Matrix dispatch: the local backend and a private Ray instance run the same specs to the same
summaries, write them where the local mode does, and never re-run a finished spec."""
from __future__ import annotations

import json

import pytest

from drpo_analysis.rl import dispatch, matrix, trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_specs():
    base = trainer.smoke_config(steps=2, eval_size=16).as_dict()
    return [{"id": f"{m}-s0", "group": "g", "config": base | {"method": m, "params": {}}}
            for m in ("pg_is", "dppo_binary_tv")]


def _strip(summary):
    return {k: v for k, v in summary.items() if k not in ("wall_s", "curves")} | {
        "curves": {k: v for k, v in summary["curves"].items() if not k.startswith("perf/")}}


def test_unknown_backend_and_address_without_ray_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="backend must be one of"):
        dispatch.run_all(tiny_specs(), backend="slurm", results=str(tmp_path))
    with pytest.raises(ValueError, match="ray backend"):
        dispatch.run_all(tiny_specs(), backend="local", results=str(tmp_path), address="head:6379")


@pytest.mark.slow
def test_ray_backend_matches_local_and_resumes(tmp_path):
    """Two tiny runs as Ray tasks on a private 2-CPU instance (ray.init(num_cpus=2)); ~30-60 s,
    most of it Ray's start-up on two shared cores."""
    pytest.importorskip("ray")
    specs, runs = tiny_specs(), str(tmp_path / "runs")
    assert dispatch.run_all(specs, backend="ray", results=str(tmp_path / "ray"), runs=runs, workers=2,
                            progress=False) == 2
    assert dispatch.run_all(specs, backend="ray", results=str(tmp_path / "ray"), runs=runs, progress=False) == 0
    assert dispatch.run_all(specs[:1], backend="local", results=str(tmp_path / "local"), runs=runs,
                            progress=False) == 1
    ray_res = {r["id"]: r for r in matrix.load_results(str(tmp_path / "ray"), "g")}
    local = json.loads((tmp_path / "local" / "g" / f"{specs[0]['id']}.json").read_text())
    assert set(ray_res) == {s["id"] for s in specs} and all(r["status"] == "ok" for r in ray_res.values())
    assert _strip(ray_res[specs[0]["id"]]) == _strip(local)  # same seed, one thread: the same run
