"""``drpo-analysis rl``: one RL run of the tiny-transformer GRPO harness."""
from __future__ import annotations

from pathlib import Path

from drpo_analysis.cli import Result, UsageError, options, parse_key_values, run_folders
from drpo_analysis.util import io

from drpo_analysis.util.tables import format_table

HELP = "one GRPO run of a tiny transformer under a controlled training–inference mismatch"
DESCRIPTION = """\
Train a small decoder-only transformer with GRPO on a task with a binary verifiable reward,
starting from a cached supervised warm start (runs/warmstart/), with rollouts sampled by a
mismatched copy of the policy. Any registered method's loss (drpo-analysis methods).

  drpo-analysis rl --smoke                          # tiny config, seconds (CI)
  drpo-analysis rl --method dppo_binary_tv --mismatch bf16+noise=0.5 --steps 100
  drpo-analysis rl --method drpo --param delta=0.15 --out runs/rl/drpo015
  drpo-analysis rl --out runs/rl/x --resume         # continue a killed run (bitwise on CPU) with
                                                    # the configuration recorded in runs/rl/x

--mismatch (the grammar every command shares): parts joined by '+', at most one precision (none,
bf16, fp8, fp8logits) and parameters noise=σ (Gaussian logit noise), noise_pow=β (token j's noise
scaled by p_j^β: the sampler fitted to a real model, see `repro`) and stale=k (sampler k
iterations behind). --free N puts N Zipf-distributed word tokens before the answer (the long tail
of sampled-token μ a real model has; the model's vocabulary must hold word tokens, as in `repro`). Metrics go to OUT/metrics.jsonl (one line per
step: reward/mean, eval/greedy_acc, eval/sampled_acc, shift/mean_abs, shift/max_abs,
ratio/max, frac/masked, frac/attenuated, weight/*, entropy/mean, bucket/<μ range>/*, perf/*).
Runs are bitwise reproducible on CPU for a given seed and --threads (the thread count changes the
floating-point reduction order, so 1 and 2 threads give different, equally valid runs).
"""


#: RLConfig fields exposed as options (help text here; type and default from the dataclass).
FIELDS = {
    "method": "registry method (drpo-analysis methods)",
    "task": "task with a verifiable reward",
    "task_size": "digits per operand / list length (none: the task's default)",
    "free": "free-form Zipf word tokens before the answer (the long tail; needs a model vocabulary > 16)",
    "zipf_s": "Zipf exponent of the free-form words",
    "mismatch": "sampler mismatch spec, e.g. bf16+noise=0.5+stale=2",
    "seed": "random seed of the run",
    "steps": "training iterations",
    "prompts_per_step": "prompts per rollout",
    "samples_per_prompt": "responses per prompt (the GRPO group)",
    "minibatches": "minibatch updates per rollout",
    "epochs": "passes over each rollout",
    "lr": "AdamW learning rate",
    "weight_decay": "AdamW weight decay",
    "grad_clip": "gradient-norm clip",
    "agg": "loss aggregation mode",
    "std_normalize": "divide advantages by the group std",
    "adv_eps": "epsilon of the std normalisation",
    "anchor": "ratio anchor: rollout μ (DPPO/DRPO) or recomputed π_old (MiniRL)",
    "tis_cap": "truncation of the IS weight π_old/μ (anchor old)",
    "eval_every": "evaluate every N steps",
    "eval_size": "held-out problems per evaluation",
    "ckpt_every": "checkpoint every N steps",
    "warm_seed": "seed of the supervised warm start",
    "warm_target_acc": "sampled accuracy the warm start trains to",
    "warm_lr": "learning rate of the warm start",
    "device": "cpu | cuda[:i]",
}


def add_arguments(p):
    from drpo_analysis.core import aggregation
    from drpo_analysis.rl import tasks, trainer

    smoke = trainer.smoke_config()
    notes = {n: f"; with --smoke: {getattr(smoke, n)}" for n in FIELDS
             if getattr(smoke, n) != options.field_default(trainer.RLConfig, n)}
    options.add_fields(p, trainer.RLConfig, FIELDS, default_note=notes,
                       choices={"agg": aggregation.MODES, "anchor": trainer.ANCHORS, "task": sorted(tasks.TASKS)})
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="method parameter (repeatable; default: the registry's paper values)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1 suits the tiny model: its matmuls are too small to split, and "
                        "extra threads spin-wait when the cores are shared)")
    p.add_argument("--out", default=None,
                   help="run folder (default: RUNS_ROOT/rl/<method>-<mismatch>-s<seed>[-smoke])")
    p.add_argument("--runs-root", default="runs", help="cache root of warm-start checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out with the configuration recorded there; options given "
                        "with it must agree")
    p.add_argument("--smoke", action="store_true", help="tiny model and task, a few steps, for CI")


def _given(args) -> dict:
    over = options.given(args, FIELDS)
    params = parse_key_values(args.param, "--param")
    if params:
        over["params"] = params
    return over


def build_config(args):
    """The configuration the options describe (``--smoke``: over the smoke preset)."""
    from drpo_analysis.rl import trainer

    over = _given(args)
    return (trainer.smoke_config(**over) if args.smoke else trainer.RLConfig(**over)).validate()


def _resumed_config(args, out: Path):
    """The configuration recorded in ``out``; every option given must agree with it."""
    from drpo_analysis.rl import trainer
    from drpo_analysis.rl.rollout import MISMATCH

    return run_folders.resumed_config(out, trainer.RLConfig, _given(args),
                                      preset=trainer.smoke_config if args.smoke else None,
                                      same={"mismatch": MISMATCH.parse})


def run(args) -> Result:
    from drpo_analysis.rl import trainer

    import torch

    if args.threads < 1:
        raise UsageError("--threads must be >= 1")
    io.writable_dir(args.runs_root)
    if args.resume and args.out:
        out = io.readable_dir(args.out)
        cfg = _resumed_config(args, out)
    else:
        cfg = build_config(args)  # every bad value is reported here, before any compute
        out = Path(args.out or f"{args.runs_root}/rl/{cfg.method}-{cfg.mismatch}-s{cfg.seed}"
                               f"{'-smoke' if args.smoke else ''}")
        if args.resume:
            cfg = _resumed_config(args, io.readable_dir(out))
        else:
            run_folders.check_new(out)
    io.writable_dir(out)
    torch.set_num_threads(args.threads)
    summary = trainer.run(cfg, out, resume=args.resume, root=args.runs_root, progress=not args.json)
    rows = trainer.read_metrics(out / "metrics.jsonl")
    steps = [r for r in rows if "reward/mean" in r]
    final = rows[-1]
    keys = ("reward/mean", "shift/mean_abs", "shift/max_abs", "frac/masked", "entropy/mean")
    table = [{"metric": "warm-start sampled acc", "value": summary["warm_acc"]},
             {"metric": "final eval/greedy_acc", "value": final.get("eval/greedy_acc")},
             {"metric": "final eval/sampled_acc", "value": final.get("eval/sampled_acc")}]
    for k in keys:
        vals = [r[k] for r in steps if r.get(k) is not None]
        if vals:
            table.append({"metric": f"{k} (first → last)", "value": f"{vals[0]:.4g} → {vals[-1]:.4g}"})
    payload = {**summary, "config": cfg.as_dict(), "final": final, "steps_logged": len(steps)}
    text = (f"{cfg.method} on {cfg.task} with mismatch {cfg.mismatch}, seed {cfg.seed}: "
            f"{summary['status']} after {summary['step']} steps → {out}\n" + format_table(table, ["metric", "value"]))
    return Result(payload, text, 0 if summary["status"] != "diverged" else 1)
