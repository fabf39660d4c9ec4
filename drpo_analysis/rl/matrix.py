"""Run a list of RL run specs incrementally and resumably, in parallel worker processes.

A *spec* is ``{"id": str, "group": str, "config": {RLConfig fields}}``. Each finished run is
summarised into ``<results>/<group>/<id>.json`` (written atomically); a spec whose JSON exists is
never recomputed, and a run killed midway resumes from its checkpoint in ``<runs>/repro/<results tag>/<group>/<id>``.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from drpo_analysis.util import io

CURVES = ("reward/mean", "shift/mean_abs", "shift/max_abs", "ratio/max", "entropy/mean", "frac/masked",
          "frac/attenuated", "frac/reversed", "weight/mean", "weight/min", "weight/max", "grad/norm_mean",
          "response/length_mean", "perf/train_tokens_per_s", "perf/sample_tokens_per_s")


def spec_id(method: str, params: dict | None = None, **tags) -> str:
    """A readable run id: method, non-default params, then tags (mismatch, lr, seed, ...)."""
    parts = [method] + [f"{k}{v:g}" for k, v in sorted((params or {}).items())]
    parts += [f"{k}{v}" for k, v in tags.items()]
    return "-".join(parts).replace("+", "_").replace("=", "")


def summarise(rows: list[dict], cfg: dict, status: dict, wall_s: float) -> dict:
    """Compact per-run record: curves of the key metrics, eval points, bucket statistics."""
    steps = [r for r in rows if "reward/mean" in r]
    evals = [r for r in rows if "eval/greedy_acc" in r]
    curves = {k: [r.get(k) for r in steps] for k in CURVES}
    bucket_keys = sorted({k for r in steps for k in r if k.startswith("bucket/")})
    buckets = {}
    for k in bucket_keys:
        vals = [r[k] for r in steps if r.get(k) is not None]
        agg = np.max if k.endswith("/max") else (np.sum if k.endswith("/count") else np.mean)
        buckets[k] = float(agg(vals)) if vals else None
    return {"config": cfg, "status": status["status"], "warm_acc": status["warm_acc"], "wall_s": wall_s,
            "curves": curves, "eval": {"step": [r["step"] for r in evals],
                                       "greedy_acc": [r["eval/greedy_acc"] for r in evals],
                                       "sampled_acc": [r["eval/sampled_acc"] for r in evals]},
            "buckets": buckets}


def run_spec(spec: dict, results: str, runs: str) -> dict:
    """Train (or resume) one spec and write its summary JSON; returns the summary."""
    import torch

    from drpo_analysis.rl import trainer

    torch.set_num_threads(1)
    tag = hashlib.sha256(str(Path(results).resolve()).encode()).hexdigest()[:8]  # one folder per results dir
    out = Path(runs) / "repro" / tag / spec["group"] / spec["id"]
    cfg = trainer.RLConfig(**spec["config"])
    t0 = time.perf_counter()
    status = trainer.run(cfg, out, resume=out.exists(), root=runs, progress=False)
    rows = trainer.read_metrics(out / "metrics.jsonl")
    summary = {"id": spec["id"], "group": spec["group"], **summarise(rows, cfg.as_dict(), status,
                                                                        time.perf_counter() - t0)}
    write_json(Path(results) / spec["group"] / f"{spec['id']}.json", summary)
    (out / "ckpt.pt").unlink(missing_ok=True)  # the summary is the record; free the disk
    return summary


def write_json(path: Path, obj) -> Path:
    """Atomic JSON write (temporary file + os.replace)."""
    return io.write_json(path, obj, default=str)


def pending(specs: list[dict], results: str) -> list[dict]:
    return [s for s in specs if not (Path(results) / s["group"] / f"{s['id']}.json").exists()]


def run_all(specs: list[dict], *, results: str, runs: str = "runs", workers: int = 1, progress=True) -> int:
    """Run every spec without a result yet; returns how many ran."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    todo = pending(specs, results)
    if not todo:
        return 0
    bar = tqdm(total=len(todo), desc="repro runs", disable=not progress)
    if workers <= 1:
        for s in todo:
            run_spec(s, results, runs)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            futs = [pool.submit(run_spec, s, results, runs) for s in todo]
            for f in as_completed(futs):
                f.result()
                bar.update()
    bar.close()
    return len(todo)


def load_results(results: str, group: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((Path(results) / group).glob("*.json"))]
