"""``drpo-analysis diagnose FILE...``: lint, mismatch by μ bucket and what-if of logged rollouts."""
from __future__ import annotations

import json
from pathlib import Path

from drpo_analysis.cli import Result, UsageError, parse_key_values
from drpo_analysis.util.tables import format_table

HELP = "diagnose logged rollouts (.pt/.npz/parquet/JSONL): lint, mismatch by mu bucket, what-if per method"
DESCRIPTION = """\
Reads per-token arrays with verl's column names -- old_log_probs (log pi, trainer),
rollout_log_probs (log mu, inference engine), response_mask, and optionally advantages,
responses (token ids), ref_log_prob, top-K columns (rollout_topk_ids, rollout_topk_log_probs,
old_topk_log_probs) and exact_tv/exact_kl/exact_kl_reverse -- from .pt (a dict of [B, T]
tensors), .npz, .parquet or .jsonl (one response per row, list columns). --columns maps other
names (repeatable canonical=name). Files are streamed in blocks of --rows responses (bounded
memory); several files (one per step) give per-step trends.

  lint      zero_filled, positive_logprob, nonfinite, shifted, truncated_sampling, mask_mismatch;
            each finding names the affected rows (0-based, per file)
  mismatch  per mu bucket: k1/k2/k3 KL estimators, chi^2, |pi - mu|, |r - 1|, max r; exact
            TV/KL and DPPO's Binary/Top-K approximations when the columns are present
  what-if   every registry method and rollout correction (token_tis, token_icepop, seq_tis,
            geo_rs): shares of tokens zeroed (masked/clipped), attenuated, amplified, reversed
            by mu bucket and sign of the advantage, gradient mass lost, worst offenders

  drpo-analysis diagnose step_*.parquet
  drpo-analysis diagnose batch.pt --json
  drpo-analysis diagnose log.jsonl --columns old_log_probs=logprobs --columns rollout_log_probs=vllm_logprobs
  drpo-analysis diagnose rollouts.npz --method ppo_clip --method drpo:delta=0.2 --report report.html
  drpo-analysis diagnose rollouts.npz --tokenizer smollm2      # decode the worst offenders

Exit code 1 when lint finds anything (0 with --no-fail-on-lint), 0 otherwise; 2 on bad usage.
"""


def add_arguments(p):
    p.add_argument("files", nargs="+", help="rollout files (.pt, .npz, .parquet, .jsonl)")
    p.add_argument("--columns", action="append", default=[], metavar="CANONICAL=NAME",
                   help="map a canonical column to the file's name (repeatable)")
    p.add_argument("--method", action="append", default=None, metavar="SPEC",
                   help="method or correction spec (repeatable; default: every registry method and "
                        "every correction at its defaults), e.g. drpo:delta=0.2, token_tis:C=3")
    p.add_argument("--rows", type=int, default=2048, help="responses per streamed block")
    p.add_argument("--tokenizer", default=None,
                   help="decode worst offenders: 'smollm2' (the bundled model) or a tokenizer folder")
    p.add_argument("--report", default=None, help="write a self-contained HTML report here")
    p.add_argument("--figures", default=None, help="write the figures (PNG) into this folder")
    p.add_argument("--no-fail-on-lint", action="store_true", help="exit 0 even when lint finds problems")
    p.add_argument("--progress", action="store_true", help="progress bar over files")


def _decoder(spec):
    if spec is None:
        return None
    if spec == "smollm2":
        from drpo_analysis.lm import loading
        if not loading.available():
            raise UsageError("--tokenizer smollm2: the model is not installed (make lm)")
        tok = loading.load_tokenizer()
    else:
        if not Path(spec).is_dir():
            raise UsageError(f"--tokenizer {spec}: not 'smollm2' nor a tokenizer folder")
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(spec)
    return lambda t: tok.decode([t])


def run(args) -> Result:
    from drpo_analysis.diagnose import io, run as drun, whatif
    from drpo_analysis.reporting import diagnose_report

    columns = parse_key_values(args.columns, "--columns", value=str)
    unknown = sorted(set(columns) - set(io.CANONICAL))
    if unknown:
        raise UsageError(f"--columns: unknown canonical name(s) {', '.join(unknown)}; known: {', '.join(io.CANONICAL)}")
    if args.rows < 1:
        raise UsageError(f"--rows must be >= 1, got {args.rows}")
    from drpo_analysis.util import io as paths
    for f in args.files:
        paths.readable_file(f)             # PathError: a usage error naming the path (exit 2)
    if args.report:
        paths.writable_file(args.report)
    if args.figures:
        paths.writable_dir(args.figures)
    specs = args.method
    for s in specs or []:
        try:
            whatif.Spec.parse(s)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--method {s}: {exc}") from None
    try:
        payload = drun.diagnose(args.files, specs=specs, columns=columns, rows=args.rows,
                                decode=_decoder(args.tokenizer), progress=args.progress)
    except io.RolloutFormatError as exc:
        raise UsageError(str(exc)) from None
    if args.figures:
        payload["figures"] = [str(p) for p in diagnose_report.write_figures(payload, Path(args.figures))]
    if args.report:
        payload["report"] = str(diagnose_report.write_html(payload, Path(args.report)))
    code = 1 if payload["lint"] and not args.no_fail_on_lint else 0
    return Result(payload, diagnose_report.text(payload), code)
