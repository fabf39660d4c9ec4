"""``drpo-analysis repro``: the paper_repro matrix (sweep → regime → runs → report)."""
from __future__ import annotations

import time
from pathlib import Path

from drpo_analysis.cli import Result, UsageError

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "run the paper_repro matrix (resumable) and write paper_repro/REPORT.md with a verdict per claim"
DESCRIPTION = """\
The claims of the DRPO / DPPO papers on real tiny-transformer GRPO runs:

  0. fit       the task's free-form tail and the bf16 / fp8 sampler noise fitted to the real
               model's measurement (matrix.json "measurement") on the warm start of fit_seed
               → results/fit.json;
  1. sweep     updates per rollout × fitted mismatch × staleness, PG-IS vs DPPO-TV, on sweep seeds
               the matrix never uses (paper_repro/sweep.json) → results/regime.json, chosen by a
               fixed rule, the same for every method;
  2. matrix    the learning gate (no mismatch) and every method / ablation / δ of
               paper_repro/matrix.json × its seeds (each its own warm start) in that regime;
  3. precision fitted bf16 / fp8 samplers vs the fp32 policy at identical weights (claim 7);
  4. report    paper_repro/REPORT.md + results/claims.json (the gate, then per claim the primary
               comparisons of matrix.json: t intervals, Holm, TOST) and the figures/make_rl_*.py figures.

Every finished run is a JSON file under paper_repro/results/<group>/; it is never recomputed, and
a killed run resumes from its checkpoint (runs/repro/<id>). Run it under nice in the background:

  nohup nice drpo-analysis repro --workers 2 > repro.log 2>&1 &
  drpo-analysis repro --phase report          # rewrite the report from what has finished
  drpo-analysis repro --smoke                 # the whole pipeline on a tiny config (seconds)
  drpo-analysis repro --backend ray --ray-address HEAD:6379   # runs as tasks on a Ray cluster

A second, hand-given regime keeps its own results, report and figures:

  drpo-analysis repro --phase matrix --phase report --results paper_repro/results_drift
      --regime lr=3e-4,minibatches=4,epochs=2,mismatch=bf16+stale=2 --seeds 5 --groups main,ablation,delta
  → paper_repro/REPORT_drift.md, figures/rl_*_drift.png
"""

PHASES = ("fit", "sweep", "matrix", "precision", "report")


def add_arguments(p):
    p.add_argument("--phase", action="append", choices=PHASES, default=None,
                   help="run only these phases (repeatable; default: all, in order)")
    p.add_argument("--workers", type=int, default=2,
                   help="parallel runs: local processes, or the CPUs of a private Ray cluster")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where runs execute: local processes (default) or Ray tasks (see --ray-address)")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to dispatch to (e.g. HEAD:6379; default: a private local Ray instance)")
    p.add_argument("--config-dir", default="paper_repro", help="folder with sweep.json and matrix.json")
    p.add_argument("--results", default=None, help="results folder (default CONFIG_DIR/results)")
    p.add_argument("--runs-root", default="runs", help="warm-start cache and run checkpoints")
    p.add_argument("--regime", default=None, metavar="K=V,...",
                   help="use this regime instead of the sweep's choice, e.g. "
                        "'lr=3e-4,minibatches=4,epochs=2,mismatch=bf16+stale=2' (with its own --results)")
    p.add_argument("--seeds", type=int, default=None, help="use only the first N seeds of matrix.json")
    p.add_argument("--groups", default=None, help="comma-separated matrix groups to run (default: all)")
    p.add_argument("--report", default=None,
                   help="report path (default: RESULTS/../REPORT.md; for RESULTS named results_X: REPORT_X.md)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures in the report phase")
    p.add_argument("--measurement", default=None,
                   help="real-model measurement JSON for the fit phase (default: matrix.json's 'measurement')")
    p.add_argument("--smoke", action="store_true", help="tiny model, 2 seeds, a few steps (CI)")


SMOKE_BASE = {"task": "sort", "task_size": 4, "steps": 4, "prompts_per_step": 4, "samples_per_prompt": 4,
              "eval_every": 2, "eval_size": 32, "warm_target_acc": 0.3, "std_normalize": True,
              "model": {"vocab_size": 64, "d_model": 32, "n_layer": 1, "n_head": 2, "max_len": 16}}


def _configs(args):
    from drpo_analysis.rl.experiments import load_config

    cdir = io.readable_dir(args.config_dir)
    sweep, matrix = load_config(cdir / "sweep.json"), load_config(cdir / "matrix.json")
    if args.smoke:
        sweep = sweep | {"grid": {"lr": [1e-3], "updates": [[2, 1]], "mismatch": ["bf16_fit", "bf16_fit+stale=2"]}}
        matrix = matrix | {"base": SMOKE_BASE, "seeds": [0, 1],
                           "groups": {k: v[:2] for k, v in matrix["groups"].items()},
                           "precision": {"mismatches": ["bf16_fit"], "prompts": 64},
                           "fit": {"prompts": 16, "check_prompts": 32, "max_free": 2}}
    if args.seeds is not None:
        matrix = matrix | {"seeds": matrix["seeds"][:args.seeds]}
    if args.groups:
        unknown = set(args.groups.split(",")) - set(matrix["groups"])
        if unknown:
            raise UsageError(f"unknown --groups {sorted(unknown)}; matrix.json has {sorted(matrix['groups'])}")
        matrix = matrix | {"groups": {k: v for k, v in matrix["groups"].items() if k in args.groups.split(",")}}
    return sweep, matrix


def _parse_regime(text: str) -> dict:
    out = {"rule": f"given on the command line: --regime {text}"}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or k not in ("lr", "minibatches", "epochs", "mismatch"):
            raise UsageError(f"--regime expects lr=,minibatches=,epochs=,mismatch= parts, got {part!r}")
        out[k] = v if k == "mismatch" else (float(v) if k == "lr" else int(v))
    if set(out) != {"rule", "lr", "minibatches", "epochs", "mismatch"}:
        raise UsageError("--regime needs all of lr, minibatches, epochs, mismatch")
    return out


def run(args) -> Result:
    from drpo_analysis.reporting import rl_report as report
    from drpo_analysis.rl import dispatch, experiments, matrix

    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    import torch

    torch.set_num_threads(1)  # the fit and precision phases run here: tiny matmuls, shared cores
    if args.ray_address and args.backend != "ray":
        raise UsageError("--ray-address needs --backend ray")
    sweep_cfg, matrix_cfg = _configs(args)
    results = args.results or (str(Path(args.runs_root) / "repro-smoke" / "results") if args.smoke
                               else str(Path(args.config_dir) / "results"))
    io.writable_dir(results)
    io.writable_dir(args.runs_root)
    if args.report:
        io.writable_file(args.report)
    regime_path = Path(results) / "regime.json"
    if args.regime:
        if "sweep" in (args.phase or PHASES):
            raise UsageError("--regime replaces the sweep: pass --phase matrix/precision/report")
        matrix.write_json(regime_path, _parse_regime(args.regime))
    phases = args.phase or list(PHASES)
    progress = not args.json
    timing_path = Path(results) / "timing.json"
    timing = io.read_json(timing_path) if timing_path.exists() else {}
    ran = {}
    fit_path = Path(results) / "fit.json"
    fit = io.read_json(fit_path) if fit_path.exists() else None
    for phase in PHASES:
        if phase not in phases:
            continue
        t0 = time.perf_counter()
        if phase == "fit":
            if fit is None:
                measurement = Path(args.measurement or matrix_cfg["measurement"])
                if not measurement.exists():
                    raise UsageError(f"no real-model measurement at {measurement} (--measurement PATH)")
                fit = experiments.fit_to_measurement(measurement, matrix_cfg["base"], seed=matrix_cfg["fit_seed"],
                                                     root=args.runs_root, **matrix_cfg.get("fit", {}))
                matrix.write_json(fit_path, fit)
                ran[phase] = 1
        elif fit is None:
            raise UsageError(f"no fit yet ({fit_path}); run the fit phase first")
        elif phase == "sweep":
            ran[phase] = dispatch.run_all(experiments.sweep_specs(sweep_cfg, matrix_cfg, fit), results=results,
                                          runs=args.runs_root, workers=args.workers, progress=progress,
                                          backend=args.backend, address=args.ray_address)
            best, _ = experiments.choose_regime(results, sweep_cfg)
            matrix.write_json(regime_path, {"rule": experiments.choose_regime.__doc__.strip(), **best})
        elif phase == "matrix":
            if not regime_path.exists():
                raise UsageError(f"no regime yet ({regime_path}); run the sweep phase first")
            regime = io.read_json(regime_path)
            ran[phase] = dispatch.run_all(experiments.matrix_specs(regime, matrix_cfg, fit), results=results,
                                          runs=args.runs_root, workers=args.workers, progress=progress,
                                          backend=args.backend, address=args.ray_address)
        elif phase == "precision":
            ran[phase] = experiments.run_precision(experiments.precision_specs(matrix_cfg), matrix_cfg, fit,
                                                   results=results, root=args.runs_root, progress=progress)
        if phase != "report" and ran.get(phase):
            timing[phase] = timing.get(phase, 0.0) + time.perf_counter() - t0
            matrix.write_json(timing_path, timing)
    if "report" not in phases:
        return Result({"ran": ran, "results": results}, format_table([ran], list(ran)) if ran else "nothing to run")
    regime = io.read_json(regime_path) if regime_path.exists() else None
    run_seconds = sum(r["wall_s"] for g in report.GROUPS for r in matrix.load_results(results, g))
    wall = (", ".join(f"{k} {v / 60:.1f} min" for k, v in timing.items()) +
            f" (wall time of the phases that completed, from timing.json; shared 2-core CPU; sum of per-run times "
            f"{run_seconds / 60:.1f} min)")
    # a second regime's results folder results_<name> gets REPORT_<name>.md and figures suffixed _<name>
    name = Path(results).name.removeprefix("results").strip("_")
    tag = f"_{name}" if name and not args.smoke else ""
    out_md = Path(args.report) if args.report else (
        Path(results).parent / f"REPORT{tag}.md" if not args.smoke else Path(results) / "REPORT.md")
    _, sweep_table = experiments.choose_regime(results, sweep_cfg)
    planned = {g: len(v) * len(matrix_cfg["seeds"]) for g, v in matrix_cfg["groups"].items()}
    setup = report.setup_lines(results, regime=regime, fit=fit, timing=wall, sweep_table=sweep_table, planned=planned)
    data = report.write_report(results, out_md, primary=matrix_cfg["primary"], setup=setup)
    figures = [] if args.no_figures or args.smoke else _figures(results, tag)
    rows = [{"claim": c["id"], "paper": c["paper"], "verdict": c["verdict"]} for c in data["claims"]]
    gate = "passed" if data["gate"]["passed"] else "FAILED"
    return Result({"ran": ran, "results": results, "report": str(out_md), "gate": data["gate"], "claims": rows,
                   "figures": figures, "timing": timing},
                  f"learning gate: {gate}\n" + format_table(rows, ["claim", "paper", "verdict"]) + f"\nreport: {out_md}")


PER_REGIME_FIGURES = ("make_rl_curves", "make_rl_buckets")  # the others are regime-independent


def _figures(results: str, tag: str):
    """The figures/make_rl_*.py figures; for a second regime (``tag``) only the per-regime ones."""
    import importlib.util

    from drpo_analysis.util.paths import repo_root

    out = []
    for path in sorted((repo_root() / "figures").glob("make_rl_*.py")):
        if tag and path.stem not in PER_REGIME_FIGURES:
            continue
        spec = importlib.util.spec_from_file_location(f"_fig_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        kw = {"results": Path(results), "tag": tag} if tag else {}
        out += [str(p) for p in mod.main(repo_root() / "figures", **kw)]
    return out
