"""``drpo-analysis fuzz``: fuzz a policy-loss implementation against the analytic reference."""
from __future__ import annotations

import json
from pathlib import Path

from drpo_analysis.cli import Result, UsageError, parse_key_values

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "fuzz a policy-loss implementation (yours, verl's, TRL's, OpenRLHF's) against the reference"
DESCRIPTION = """\
Compare d loss / d logp per token (and the loss value where meaningful) of an implementation with
the registry's derived gradient times the aggregation weight, on drawn batches and named checks:
gradient, on_policy, stop_gradient, region_coverage, aggregation, padding, overflow, dtype.

  drpo-analysis fuzz mypkg.losses:my_drpo --method drpo --param delta=0.2
  drpo-analysis fuzz path/to/loss.py:my_loss --method ppo_clip --agg seq-mean-token-mean
  drpo-analysis fuzz verl:dppo_tv --adapter verl --method dppo_binary_tv \\
                     --param delta_low=0.15 --param delta_high=0.15
  drpo-analysis fuzz trl:dr_grpo --adapter trl --method ppo_clip
  drpo-analysis fuzz --self-test --seeds 5        # mutation score of the fuzzer itself
  drpo-analysis fuzz --conformance                # writes paper_repro/CONFORMANCE.md

Plain targets have the signature fn(logp, logp_mu, adv, mask, **params) -> scalar loss
(tensors [B, T], mask bool; params by the registry's names; optional keywords num_tokens /
num_seqs receive global counts, group_ids the prompt groups). Design choices are declared as
options: --option log_ratio_clamp=20 (ℓ − ℓ_μ clamped before exp), --option is_truncation=3
(IS weight truncated at C), --option compare_value=false (the value is a surrogate), --option
horizon=4096 (L_const of seq-mean-token-sum-norm). JSON: {"ok", "checks": [...], "findings": [{"check",
"counterexample", "expected", "got", "reproducer", ...}]}; exit code 1 when there are findings.
"""


def add_arguments(p):
    import inspect

    from drpo_analysis.fuzz import mutants, runner
    from drpo_analysis.fuzz.adapters import plain

    examples = inspect.signature(runner.fuzz).parameters["examples"].default
    p.add_argument("target", nargs="?", help="module:function, path.py:function, verl:MODE, trl:LOSS_TYPE, "
                                             "openrlhf:ppo|gspo")
    p.add_argument("--method", help="registered method the target implements (see `drpo-analysis methods`)")
    p.add_argument("--adapter", default=None, choices=("plain", "verl", "trl", "openrlhf"),
                   help="calling convention of the target (default: from the TARGET prefix, else plain)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="method parameter (our names)")
    p.add_argument("--option", action="append", default=[], metavar="K=V",
                   help="adapter option, e.g. agg=seq-mean-token-mean, horizon=4096, clip_ratio_c=20")
    agg = inspect.signature(plain.conventions).parameters["agg"].default
    p.add_argument("--agg", help=f"aggregation mode of a plain target (default: {agg})")
    p.add_argument("--seed", type=int, default=0, help="random seed of the drawn batches")
    p.add_argument("--examples", type=int, default=examples, help="batches per check (scaled per check)")
    p.add_argument("--check", action="append", default=None, help="run only this check (repeatable)")
    p.add_argument("--self-test", action="store_true", help="mutation score over the built-in corpus")
    p.add_argument("--seeds", type=int, default=len(mutants.SEEDS),
                   help="seeds for --self-test (seeds --seed, --seed + 1, ...)")
    p.add_argument("--conformance", action="store_true",
                   help="fuzz the installed verl / TRL / OpenRLHF losses and write CONFORMANCE.md")
    p.add_argument("--out", default="paper_repro/CONFORMANCE.md", help="where --conformance writes")


def _json_or_str(v: str):
    """Option values: JSON when they parse (numbers, true/false, null), else the plain string."""
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def run(args) -> Result:
    if args.self_test:
        return _self_test(args)
    if args.conformance:
        from drpo_analysis.fuzz import conformance
        io.writable_file(Path(args.out).with_suffix(".json"))
        res = conformance.run(io.writable_file(args.out), seed=args.seed, examples=args.examples,
                              progress=not args.json)
        return Result(res, conformance.summary_text(res), 0)
    if not args.target or not args.method:
        raise UsageError("give TARGET and --method (or --self-test / --conformance)")
    from drpo_analysis.fuzz import adapters, runner

    adapter = args.adapter or next((a for a in ("verl", "trl", "openrlhf") if args.target.startswith(a + ":")), "plain")
    options = parse_key_values(args.option, "--option", value=_json_or_str)
    if args.agg:
        options["agg"] = args.agg
    accepted = _adapter_options(adapters.module(adapter))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UsageError(f"--option {', '.join(unknown)}: unknown to the {adapter} adapter; accepted: "
                         f"{', '.join(accepted)}")
    try:
        params = parse_key_values(args.param, "--param")
        target = adapters.load(args.target, adapter=adapter, method=args.method, params=params,
                               **options)
    except ImportError as exc:   # ModuleNotFoundError included
        raise UsageError(f"cannot import the target: {exc}") from exc
    report = runner.fuzz(target, seed=args.seed, examples=args.examples, checks=args.check, progress=not args.json)
    return Result(report.as_dict(), report.text(), 0 if report.ok else 1)


def _adapter_options(mod) -> list[str]:
    """The ``--option`` names an adapter takes: the keyword-only parameters of its ``target`` (and,
    for the plain adapter, of its ``conventions``)."""
    import inspect

    fns = [mod.target] + ([mod.conventions] if hasattr(mod, "conventions") else [])
    names = {p.name for fn in fns for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
    return sorted(names - {"method", "params", "name", "spec", "reproducer"})


def _self_test(args) -> Result:
    from drpo_analysis.fuzz import mutants
    if args.seeds < 1:
        raise UsageError("--seeds must be >= 1")
    res = mutants.self_test(tuple(range(args.seed, args.seed + args.seeds)), progress=not args.json)
    rows = [{"seed": r["seed"], "killed": f"{r['killed']}/{res['mutants']}", "score": r["score"],
             "false_positives": r["false_positives"]} for r in res["per_seed"]]
    text = "\n".join([
        f"mutation self-test: {res['killed']}/{res['mutants']} mutants killed on every seed "
        f"(score {res['score']:.3f}), {res['false_positives']} false positive(s) on "
        f"{res['correct_implementations']} correct implementations",
        format_table(rows, ["seed", "killed", "score", "false_positives"]),
        *(f"SURVIVOR {k} (seeds {v})" for k, v in res["survivors"].items()),
        *(f"FALSE POSITIVE {k}: {v}" for k, v in res["false_positive_targets"].items()),
    ])
    ok = res["score"] == 1.0 and res["false_positives"] == 0
    return Result(res, text, 0 if ok else 1)
