"""Where the runs of a matrix execute: worker processes on this machine (``local``, resumable), or
tasks on a Ray cluster (``ray``).

Both backends run :func:`drpo_analysis.rl.matrix.run_spec` for every spec without a result yet, so
a study interrupted under one backend resumes under either. With Ray the driver writes each
returned summary into ``results`` itself, so the results folder only has to exist where the driver
runs; a run's checkpoint (``<runs>/repro/...``) lives on the node that ran it, so a run killed
midway resumes from its checkpoint only on that node or with ``runs`` on a shared filesystem
(otherwise it starts again from the seed, reproducing the same numbers).

Cluster use: start Ray on the nodes (``ray start --head`` / ``ray start --address=HEAD:6379``) with
this package installed on each node (or let Ray ship it: it is passed as a ``py_modules`` runtime
environment when an address is given), then ``drpo-analysis repro --backend ray --ray-address
HEAD:6379``. Without an address, ``ray.init`` starts a private single-machine cluster.
"""
from __future__ import annotations

from pathlib import Path

from drpo_analysis.rl import matrix


def run_local(specs: list[dict], *, results: str, runs: str = "runs", workers: int = 1, progress=True,
              address: str | None = None) -> int:
    """Worker processes on this machine (:func:`drpo_analysis.rl.matrix.run_all`)."""
    if address is not None:
        raise ValueError("a Ray address needs the ray backend (--backend ray)")
    return matrix.run_all(specs, results=results, runs=runs, workers=workers, progress=progress)


def run_ray(specs: list[dict], *, results: str, runs: str = "runs", workers: int = 1, progress=True,
            address: str | None = None) -> int:
    """One Ray task (1 CPU) per pending spec; ``workers`` is the number of CPUs of the private
    cluster started when no ``address`` is given. Returns how many ran."""
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError("the ray backend needs ray: pip install 'drpo-analysis[ray]'") from None
    from tqdm import tqdm

    todo = matrix.pending(specs, results)
    if not todo:
        return 0
    started = not ray.is_initialized()
    if started:
        kw = ({"address": address, "runtime_env": {"py_modules": [str(Path(__file__).resolve().parents[1])]}}
              if address else {"num_cpus": workers})
        ray.init(include_dashboard=False, log_to_driver=False, **kw)
    try:
        task = ray.remote(num_cpus=1, max_retries=1)(matrix.run_spec)
        pending = [task.remote(s, results, runs) for s in todo]
        bar = tqdm(total=len(todo), desc="repro runs (ray)", disable=not progress)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            summary = ray.get(done[0])
            matrix.write_json(Path(results) / summary["group"] / f"{summary['id']}.json", summary)
            bar.update()
        bar.close()
    finally:
        if started:
            ray.shutdown()
    return len(todo)


BACKENDS = {"local": run_local, "ray": run_ray}


def run_all(specs: list[dict], *, backend: str = "local", **kw) -> int:
    """Run every spec without a result in ``results`` on ``backend`` (``local`` or ``ray``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    return BACKENDS[backend](specs, **kw)
