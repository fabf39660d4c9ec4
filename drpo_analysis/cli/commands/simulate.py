"""``drpo-analysis simulate vocab|dynamics``: the NumPy/SciPy simulations of :mod:`drpo_analysis.sim`."""
from __future__ import annotations

import argparse

from drpo_analysis.cli import HelpFormatter, Result, UsageError, options

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "long-tailed vocabulary mismatch statistics and softmax-policy RL dynamics"
DESCRIPTION = """\
Two simulations (NumPy/SciPy only, bitwise reproducible per --seed):

  vocab     next-token distributions with Zipf tails at V = 151,936 under training-inference
            mismatch at identical weights (bf16, fp16, fp8 e4m3/e5m2 with per-row scaling,
            logit noise, temperature, top-k/top-p sampler truncation). Tokens are sampled from
            the inference engine mu; per mu-bucket: ratio r, |log r|, |pi - mu|, which tokens
            PPO-clip / DPPO-TV / DPPO-KL mask, DRPO's weight quantiles; the share of tokens with
            mu <= 0.01; exact full-vocabulary TV/KL against DPPO's Binary and Top-K
            approximations (a violation of approx <= exact makes the exit code 1).
  dynamics  a softmax policy (logits as parameters) on a verifiable multi-token task, trained
            from a stale, mismatched behaviour policy with every method's exact registry
            gradient, vectorised over methods and seeds; curves of reward, |pi - mu|, TV,
            entropy, masked share, collapse. --sweep runs a grid, appending one JSON line per
            point to --out and skipping points already there (resume).

  drpo-analysis simulate vocab                                 # ~20 s, 7 mismatch models
  drpo-analysis simulate vocab --mismatch fp8_e4m3 --mismatch noise=0.1 --json
  drpo-analysis simulate dynamics                              # ~15 s, 5 methods x 4 seeds
  drpo-analysis simulate dynamics --shared-dim 8 --V 256 --lr 20   # interference: collapses
  drpo-analysis simulate dynamics --method drpo --method drpo:delta=0.15 --lr 10 --staleness 4
  drpo-analysis simulate dynamics --method dppo_topk_tv --method gspo_token --steps 20
  drpo-analysis simulate dynamics --sweep lr=2,10,50 --sweep staleness=0,4 --out sweep.jsonl

Mismatch specs (the grammar every command shares): parts joined by '+', at most one precision
(none, bf16, fp16, fp8_e4m3, fp8_e5m2) and parameters noise=SIGMA, temperature=TAU, top_k=K,
top_p=P (NAME:VALUE reads the same), e.g. bf16+noise=0.05+top_p=0.95. Method specs: a registry name optionally with
parameters, e.g. dppo_binary_tv:delta_low=0.2,delta_high=0.2. Every registry method runs in the
dynamics: Top-K DPPO also takes K, the size of top-K(mu) (dppo_topk_kl:K=50, default 20), and
GSPO's sequence ratio is the mean of log(pi/mu) over each response's tokens.
"""


VOCABULARY = {"zipf": "Zipf tail exponent", "top1_a": "Beta(a, b) law of the top-1 mass: a",
              "top1_b": "Beta(a, b) law of the top-1 mass: b", "temperature": "logit temperature",
              "logit_max": "largest logit"}
VOCAB_SETTINGS = {"contexts": "contexts per mismatch model", "samples": "tokens sampled per context",
                  "topk": "K of DPPO's Top-K approximation", "seed": "random seed"}
DYNAMICS = {"seeds": "independent seeds, vectorised", "prompts": "prompts", "length": "tokens per response",
            "group": "responses per prompt", "n_correct": "size of each context's correct-token set",
            "hard_frac": "share of contexts whose correct set excludes the initial top-1 token",
            "steps": "rollouts", "updates": "gradient steps per rollout",
            "lr": "learning rate on the logits", "staleness": "rollouts of behaviour-policy lag",
            "mismatch": "behaviour mismatch", "std_normalize": "divide advantages by the group std",
            "shared_dim": "shared parameters z = z0 + E theta of this rank (0 = per-context logits); d > 0 "
                          "makes updates interfere across contexts",
            "seed": "random seed"}


def add_arguments(p):
    from drpo_analysis.sim import dynamics as sd, vocab as sv

    sub = p.add_subparsers(dest="sim", metavar="SIMULATION")
    v = sub.add_parser("vocab", help="mismatch statistics of sampled tokens at full vocabulary size",
                       description=DESCRIPTION, formatter_class=HelpFormatter)
    d = sub.add_parser("dynamics", help="softmax-policy RL dynamics per method (and sweeps)",
                       description=DESCRIPTION, formatter_class=HelpFormatter)
    for q in (v, d):
        q.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print one JSON object on stdout (default: off)")
        q.add_argument("--out", default=None, help="also write the JSON result to this file "
                       "(dynamics --sweep: JSON lines, appended and resumed)")
    v.add_argument("--V", type=int, default=None, metavar="INT",
                   help=f"vocabulary size (default: {options.field_default(sv.Vocabulary, 'V')}, Qwen3)")
    options.add_fields(v, sv.Vocabulary, VOCABULARY)
    options.add_fields(v, sv.VocabSettings, VOCAB_SETTINGS)
    v.add_argument("--mismatch", action="append", default=None,
                   help="mismatch model (repeatable; default: "
                        f"{', '.join(options.field_default(sv.VocabSettings, 'mismatches'))})")
    v.add_argument("--no-approx", action="store_true", help="skip the Binary/Top-K approximation gaps")
    d.add_argument("--method", action="append", default=None,
                   help="method spec (repeatable; default: "
                        f"{', '.join(options.field_default(sd.DynamicsSettings, 'methods'))})")
    d.add_argument("--V", type=int, default=None, metavar="INT",
                   help=f"vocabulary size (default: {options.field_default(sd.DynamicsSettings, 'vocab').V})")
    options.add_fields(d, sd.DynamicsSettings, DYNAMICS)
    d.add_argument("--sweep", action="append", default=None, metavar="AXIS=V1,V2,...",
                   help="sweep axis (repeatable): lr, staleness, mismatch, updates, ... ; "
                        "methods stay vectorised inside each point")


def run(args) -> Result:
    if args.sim is None:
        raise UsageError("choose a simulation: 'simulate vocab' or 'simulate dynamics' (see --help)")
    if args.out:
        io.writable_file(args.out)   # before any compute
    return _vocab(args) if args.sim == "vocab" else _dynamics(args)


def _write(path, payload):
    if path:
        io.write_json(path, payload, indent=1, default=float)


def _vocab(args) -> Result:
    from drpo_analysis.sim import vocab as sv

    vocab = sv.Vocabulary(**options.given(args, ["V", *VOCABULARY]))
    settings = sv.VocabSettings(vocab=vocab, **options.given(args, VOCAB_SETTINGS),
                                mismatches=tuple(args.mismatch or sv.VocabSettings.mismatches),
                                approximations=not args.no_approx)
    res = sv.simulate(settings, progress=not getattr(args, "json", False))
    res.pop("scatter")
    _write(args.out, res)
    rows, texts, violations = [], [], 0
    for e in res["results"]:
        ap = e.get("approximation", {})
        violations += sum(a["violations"] for a in ap.values())
        rows.append({"mismatch": e["mismatch"], "tokens": e["n_tokens"],
                     "mu<=0.01": e["frac_mu_le_0.01"], "TV": e["divergence"]["tv"]["mean"],
                     "KL(mu|pi)": e["divergence"]["kl_mu_pi"]["mean"],
                     **{f"{k}/exact": a["ratio_to_exact"]["mean"] for k, a in ap.items()},
                     "violations": sum(a["violations"] for a in ap.values()) if ap else None})
        brows = [{"bucket": b["bucket"], "share": b["share"], "|log r|": b.get("abs_log_r_mean"),
                  "max|pi-mu|": b.get("abs_shift_max"),
                  "ppo A>0": b.get("masked_ppo_clip_pos"), "ppo A<0": b.get("masked_ppo_clip_neg"),
                  "dppo_tv A<0": b.get("masked_dppo_binary_tv_neg"),
                  "dppo_kl A<0": b.get("masked_dppo_binary_kl_neg"),
                  **{f"{lab} w A<0 [q01,q99]": (f"[{b[f'w_{lab}_neg_q01']:.4f}, "
                                                f"{b[f'w_{lab}_neg_q99']:.4f}]"
                                                if f"w_{lab}_neg_q01" in b else None)
                     for lab in sv.WEIGHT_METHODS}}
                 for b in e["buckets"]]
        texts.append(f"\n{e['mismatch']}: sampled tokens by mu bucket (masked shares)\n"
                     + format_table(brows, list(brows[0])))
    cols = list(rows[0])
    text = format_table(rows, cols) + "\n" + "\n".join(texts)
    if violations:
        text += f"\nFAILED: {violations} tokens where an approximation exceeds the exact divergence"
    return Result(res, text, 1 if violations else 0)


def _parse_axis(spec: str):
    from drpo_analysis.sim.dynamics import DynamicsSettings

    name, eq, vals = spec.partition("=")
    if not eq or not vals:
        raise UsageError(f"--sweep {spec!r}: write AXIS=V1,V2,... (e.g. lr=1,10)")
    fields = DynamicsSettings.__dataclass_fields__
    if name not in fields or name in ("vocab", "methods"):
        raise UsageError(f"--sweep axis {name!r} unknown; accepted: "
                         f"{sorted(set(fields) - {'vocab', 'methods'})}")
    typ = {"lr": float, "hard_frac": float, "mismatch": str, "std_normalize": lambda x: x == "true"}
    conv = typ.get(name, int)
    try:
        return name, [conv(x) for x in vals.split(",")]
    except ValueError:
        raise UsageError(f"--sweep {spec!r}: values must be numbers for {name!r}") from None


def _dynamics(args) -> Result:
    from drpo_analysis.sim import dynamics as sd
    from drpo_analysis.sim.vocab import Vocabulary

    over = options.given(args, DYNAMICS)
    if args.V is not None:
        over["vocab"] = Vocabulary(V=args.V)
    base = sd.DynamicsSettings(methods=tuple(args.method or sd.DynamicsSettings.methods), **over)
    quiet = getattr(args, "json", False)
    if args.sweep:
        axes = dict(_parse_axis(s) for s in args.sweep)
        points = sd.grid(axes)
        records = sd.sweep(base, points, args.out, progress=not quiet)
        rows = [{**r["overrides"], **{k: s[k] for k in ("method", "final_reward_pi", "ci_low",
                                                         "ci_high", "collapse_rate", "max_shift_max")}}
                for r in records for s in r["summary"]]
        payload = {"settings": sd.settings_dict(base), "axes": axes,
                   "points": [{"overrides": r["overrides"], "summary": r["summary"]} for r in records]}
        return Result(payload, format_table(rows, list(rows[0])))
    res = sd.run(base, progress=not quiet)
    summary = sd.summarize(res)
    payload = {"settings": res["settings"], "summary": summary,
               "curves": {k: v.mean(-1).tolist() for k, v in res["history"].items()},
               "collapse_step": res["collapse_step"].tolist(), "token_updates": res["token_updates"]}
    _write(args.out, payload)
    cols = ["method", "final_reward_pi", "ci_low", "ci_high", "collapse_rate", "max_shift_max",
            "final_tv", "final_entropy", "masked", "attenuated"]
    return Result(payload, format_table(summary, cols))

