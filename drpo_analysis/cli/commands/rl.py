"""``drpo-analysis rl``: one RL run of the tiny-transformer GRPO harness."""
from __future__ import annotations

import dataclasses

from drpo_analysis.cli import Result, UsageError, parse_key_values

from drpo_analysis.util.tables import format_table

HELP = "one GRPO run of a tiny transformer under a controlled training–inference mismatch"
DESCRIPTION = """\
Train a small decoder-only transformer with GRPO on a task with a binary verifiable reward,
starting from a cached supervised warm start (runs/warmstart/), with rollouts sampled by a
mismatched copy of the policy. Any registered method's loss (drpo-analysis methods).

  drpo-analysis rl --smoke                          # tiny config, seconds (CI)
  drpo-analysis rl --method dppo_binary_tv --mismatch bf16+noise=0.5 --steps 100
  drpo-analysis rl --method drpo --param delta=0.15 --out runs/rl/drpo015
  drpo-analysis rl --free 2 --zipf-s 1.45 --vocab-size 4096 --mismatch noise=0.03+noise_pow=-0.13+stale=2
  drpo-analysis rl --out runs/rl/x --resume         # continue a killed run (bitwise on CPU)

--mismatch (the grammar every command shares): parts joined by '+', at most one precision (none,
bf16, fp8, fp8logits) and parameters noise=σ (Gaussian logit noise), noise_pow=β (token j's noise
scaled by p_j^β: the sampler fitted to a real model, see `repro`) and stale=k (sampler k
iterations behind). --free N --vocab-size V puts N Zipf-distributed word tokens before the answer
(the long tail of sampled-token μ a real model has). Metrics go to OUT/metrics.jsonl (one line per
step: reward/mean, eval/greedy_acc, eval/sampled_acc, shift/mean_abs, shift/max_abs,
ratio/max, frac/masked, frac/attenuated, weight/*, entropy/mean, bucket/<μ range>/*, perf/*).
Runs are bitwise reproducible on CPU for a given seed and --threads (the thread count changes the
floating-point reduction order, so 1 and 2 threads give different, equally valid runs).
"""


def add_arguments(p):
    p.add_argument("--method", default="drpo", help="registry method (default drpo)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="method parameter (repeatable)")
    p.add_argument("--task", default=None, help="add | sort (default add; smoke: sort)")
    p.add_argument("--task-size", type=int, default=None, help="digits per operand / list length")
    p.add_argument("--free", type=int, default=None,
                   help="free-form Zipf word tokens before the answer (the long tail; default 0)")
    p.add_argument("--zipf-s", type=float, default=None, help="Zipf exponent of the free-form words (default 1.0)")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="model vocabulary: 16 control tokens + word tokens (default 16; > 17 needs --free)")
    p.add_argument("--mismatch", default=None, help="sampler mismatch spec (default bf16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="training iterations (default 100)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--minibatches", type=int, default=None, help="minibatch updates per rollout")
    p.add_argument("--epochs", type=int, default=None, help="passes over each rollout")
    p.add_argument("--agg", default=None, help="loss aggregation mode (default seq-mean-token-sum-norm)")
    p.add_argument("--anchor", default=None, choices=("mu", "old"),
                   help="ratio anchor: rollout μ (DPPO/DRPO) or recomputed π_old (MiniRL)")
    p.add_argument("--std-normalize", action="store_true", help="divide advantages by the group std")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:i]")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: the tiny model's matmuls are too small to split, and "
                        "extra threads spin-wait when the cores are shared)")
    p.add_argument("--out", default=None, help="run folder (default runs/rl/<method>-<mismatch>-s<seed>)")
    p.add_argument("--runs-root", default="runs", help="cache root of warm-start checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--smoke", action="store_true", help="tiny model and task, a few steps (CI)")


def build_config(args):
    from drpo_analysis.rl import trainer

    over = {"method": args.method, "params": parse_key_values(args.param, "--param"), "seed": args.seed,
            "device": args.device, "std_normalize": args.std_normalize}
    for name in ("task", "task_size", "free", "zipf_s", "mismatch", "steps", "lr", "minibatches", "epochs", "agg",
                 "anchor"):
        if getattr(args, name) is not None:  # only what was given overrides the config's default
            over[name] = getattr(args, name)
    if args.vocab_size is not None:
        base = trainer.smoke_config() if args.smoke else trainer.RLConfig()
        over["model"] = dataclasses.replace(base.model, vocab_size=args.vocab_size)
    return (trainer.smoke_config(**over) if args.smoke else trainer.RLConfig(**over)).validate()


def run(args) -> Result:
    from drpo_analysis.rl import trainer

    import torch

    cfg = build_config(args)  # every bad value is reported here, before any compute
    if args.threads < 1:
        raise UsageError("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    out = args.out or f"{args.runs_root}/rl/{cfg.method}-{cfg.mismatch}-s{cfg.seed}{'-smoke' if args.smoke else ''}"
    summary = trainer.run(cfg, out, resume=args.resume, root=args.runs_root, progress=not args.json)
    rows = trainer.read_metrics(f"{out}/metrics.jsonl")
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
