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
gradient, on_policy, stop_gradient, region_coverage, aggregation, padding, overflow, dtype,
hyperparameters (parameters drawn away from the target's own) and aggregation_modes (every mode the
target can be told).

  drpo-analysis fuzz mypkg.losses:my_drpo --method drpo --param delta=0.2
  drpo-analysis fuzz path/to/loss.py:my_loss --method ppo_clip --agg seq-mean-token-mean
  drpo-analysis fuzz my_verl_loss.py:compute_policy_loss --method dual_clip --option log_ratio_clamp=20
  drpo-analysis fuzz verl:dppo_tv --param delta_low=0.15 --param delta_high=0.15
  drpo-analysis fuzz trl:dr_grpo
  drpo-analysis fuzz --self-test --seeds 5        # mutation score of the fuzzer itself
  drpo-analysis fuzz --conformance                # writes paper_repro/CONFORMANCE.md
  drpo-analysis fuzz --conformance --examples 12 --only rollout_is   # re-run those rows, keep the rest

Plain targets have the signature fn(logp, logp_mu, adv, mask, **params) -> scalar loss
(tensors [B, T], mask bool; params by the registry's names; optional keywords num_tokens /
num_seqs receive global counts, group_ids the prompt groups, agg / loss_agg_mode the aggregation
mode). A function in verl's, TRL's or OpenRLHF's policy-loss signature is detected from its
argument names (or name --adapter). Design choices are declared as options: --option
log_ratio_clamp=20 or LO,HI such as -inf,10 (l - l_mu clamped before exp, everywhere r
appears), clamp_scope=ratio (pi and the shift stay unclamped), statistics_clamp=20 (each token clamped inside sequence statistics),
is_truncation=3, compare_value=false, horizon=4096, symmetric_clip=true (equal lower and upper
bounds only: the sweep keeps them equal). A function in a framework's shape
declared with equal bounds also gets them drawn apart once where the framework's config carries
separate fields (verl's clip_ratio_low/high, TRL's epsilon/epsilon_high, OpenRLHF's
clip_eps_low/high): reading one field for both deviates; raising on unequal bounds is a note.

Verdict: conforms / conforms with declared design choices / edge cases only / deviates; exit 0
for the first three (--strict: 1 for edge cases too), 1 for deviates. An exact tie at a kink
(torch.max/min) conforms with any convex combination of the one-sided gradients (a note). Each
finding names its check, sub-check and likely fix, with a reproducer. JSON: {"ok", "verdict",
"declared", "notes", "checks": [...], "findings": [{"check", "sub_check", "severity", "fix",
"counterexample", "expected", "got", "reproducer", ...}]}.
"""


def add_arguments(p):
    import inspect

    from drpo_analysis.fuzz import mutants, runner
    from drpo_analysis.fuzz.adapters import plain

    examples = inspect.signature(runner.fuzz).parameters["examples"].default
    p.add_argument("target", nargs="?", help="module:function, path.py:function, verl:MODE, trl:LOSS_TYPE, "
                                             "openrlhf:ppo|gspo, areal:KIND, skyrl:KIND, swift:LOSS_TYPE, "
                                             "torchtune:ppo, art:KIND")
    p.add_argument("--method", help="registered method the target implements (see `drpo-analysis methods`)")
    p.add_argument("--adapter", default=None,
                   choices=("plain", "verl", "trl", "openrlhf", "areal", "skyrl", "swift", "torchtune", "art"),
                   help="calling convention of the target (default: from the TARGET prefix, else from the "
                        "function's signature: verl's old_log_prob/log_prob/advantages/response_mask, "
                        "OpenRLHF's log_probs/old_log_probs/advantages, TRL's per_token_logps/..., else plain)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="method parameter (our names)")
    p.add_argument("--option", action="append", default=[], metavar="K=V",
                   help="adapter option, e.g. agg=seq-mean-token-mean, horizon=4096, clip_ratio_c=20")
    agg = inspect.signature(plain.conventions).parameters["agg"].default
    p.add_argument("--agg", help=f"aggregation mode of a plain target (default: {agg})")
    p.add_argument("--seed", type=int, default=0, help="random seed of the drawn batches")
    p.add_argument("--examples", type=int, default=examples,
                   help="batches per check, scaled per check; the API and the pytest plugin use the same "
                        "(default: %(default)s)")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds one call of the target may take (default: %(default)s)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on edge cases too (default: only a deviation exits 1)")
    p.add_argument("--check", action="append", default=None, help="run only this check (repeatable)")
    p.add_argument("--self-test", action="store_true", help="mutation score over the built-in corpus")
    p.add_argument("--seeds", type=int, default=len(mutants.SEEDS),
                   help="seeds for --self-test (seeds --seed, --seed + 1, ...)")
    p.add_argument("--conformance", action="store_true",
                   help="fuzz the installed verl / TRL / OpenRLHF losses and write CONFORMANCE.md")
    p.add_argument("--out", default="paper_repro/CONFORMANCE.md", help="where --conformance writes")
    p.add_argument("--only", action="append", default=None, metavar="TEXT",
                   help="--conformance: re-run only the entries whose label contains TEXT (repeatable), and "
                        "entries the existing matrix lacks; keep the other rows of --out's JSON (default: all)")


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
        try:
            res = conformance.run(io.writable_file(args.out), seed=args.seed, examples=args.examples,
                                  progress=not args.json, only=tuple(args.only or ()))
        except conformance.PreviousMatrixError as exc:
            raise UsageError(str(exc)) from None
        return Result(res, conformance.summary_text(res), 0)
    if not args.target:
        raise UsageError("give TARGET and --method (or --self-test / --conformance)")
    framework_mode = any(args.target.startswith(a + ":") for a in ("verl", "trl", "openrlhf"))
    if not args.method and not framework_mode:
        raise UsageError("give --method: the registered method the target implements (see `drpo-analysis methods`)")
    from drpo_analysis.fuzz import adapters, runner

    try:
        adapter = args.adapter or next((a for a in adapters.ADAPTERS[1:] if args.target.startswith(a + ":")), None) \
            or adapters.detect(adapters.module("plain").resolve(args.target))
    except ImportError as exc:   # ModuleNotFoundError included
        raise UsageError(f"cannot import the target: {exc}") from exc
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
                               timeout=args.timeout, **options)
    except ImportError as exc:   # ModuleNotFoundError included
        raise UsageError(f"cannot import the target: {exc}") from exc
    report = runner.fuzz(target, seed=args.seed, examples=args.examples, checks=args.check, progress=not args.json)
    return Result(report.as_dict(), report.text(), report.exit_code(args.strict))


def _adapter_options(mod) -> list[str]:
    """The ``--option`` names an adapter takes: the keyword-only parameters of its ``target``, of
    its ``user_target`` (a user's function in the framework's shape) and of the plain adapter's
    ``conventions`` (design choices)."""
    import inspect

    from drpo_analysis.fuzz.adapters import plain

    # a user's function in a framework's shape declares design choices as a plain target does
    fns = [mod.target, plain.conventions] + ([mod.user_target] if hasattr(mod, "user_target") else [])
    names = {p.name for fn in fns for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
    from drpo_analysis.fuzz.adapters import COMMON_OPTIONS
    return sorted((names | set(COMMON_OPTIONS)) - {"method", "params", "name", "spec", "reproducer"})


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
