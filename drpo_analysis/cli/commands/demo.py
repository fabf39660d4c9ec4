"""``drpo-analysis demo``: the main job on a fresh machine, in a few minutes on a CPU.

It runs, in order, the machine-checked claims, the claims audit, a mutation self-test of the
fuzzer, a short vocabulary simulation and the figures, printing each step's own table and a
summary. Each step is an ordinary sub-command, run in-process through the same parser.
"""
from __future__ import annotations

import time

from drpo_analysis.cli import Result

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "the main job: prove, audit, a fuzz self-test, a short simulation and the figures"
DESCRIPTION = """\
Run the toolkit's main job end to end (a few minutes on 2 CPU cores):

  1. drpo-analysis methods               the registry and derived gradient weights
  2. drpo-analysis prove                 machine-checked claims
  3. drpo-analysis audit --out OUT/CLAIMS.md      the claims table
  4. drpo-analysis fuzz --self-test --seeds 1      mutation score of the fuzzer (one seed)
  5. drpo-analysis simulate vocab                  a short long-tailed vocabulary simulation
  6. drpo-analysis figures --out OUT/figures       every figure

Its files go to OUT (--out, outside version control), never over the committed
paper_repro/CLAIMS.md and figures/: floating-point results may differ in their last bits from
one machine to another (NumPy, for one, picks its SIMD kernels by CPU), and a demo must not
rewrite committed files with them. Compare with
`diff runs/demo/CLAIMS.md paper_repro/CLAIMS.md`; `drpo-analysis audit` and `drpo-analysis
figures` write the committed files.

Exit code 1 if any step reports a failed check.
"""

#: (label, arguments); OUT stands for the --out folder.
STEPS = (
    ("methods", ["methods"]),
    ("prove", ["prove"]),
    ("audit", ["audit", "--out", "OUT/CLAIMS.md"]),
    ("fuzz self-test", ["fuzz", "--self-test", "--seeds", "1"]),
    ("simulate vocab", ["simulate", "vocab"]),
    ("figures", ["figures", "--out", "OUT/figures"]),
)


STEP_NAMES = tuple(argv[0] for _, argv in STEPS)


def add_arguments(p):
    p.add_argument("--skip", action="append", default=[], metavar="STEP", choices=STEP_NAMES,
                   help="skip a step by its first word (repeatable; default: none skipped)")
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="folder for the demo's files")


def run(args) -> Result:
    from drpo_analysis.cli import build_parser

    available = set(build_parser(only="demo")._subparsers._group_actions[0].choices)  # noqa: SLF001
    io.writable_dir(args.out)
    rows, payload, texts = [], {}, []
    worst = 0
    for label, argv in STEPS:
        if argv[0] in args.skip:
            rows.append({"step": label, "status": "skipped", "seconds": None})
            continue
        if argv[0] not in available:
            rows.append({"step": label, "status": "not available", "seconds": None})
            continue
        argv = [a.replace("OUT", args.out, 1) if a.startswith("OUT/") else a for a in argv]
        step_args = build_parser(only=argv[0]).parse_args(argv + (["--json"] if args.json else []))
        t0 = time.perf_counter()
        try:
            res = step_args._module.run(step_args)
        except Exception as exc:  # a broken step is reported, the demo goes on
            res = Result({"error": f"{type(exc).__name__}: {exc}"}, f"error: {type(exc).__name__}: {exc}", 1)
        secs = time.perf_counter() - t0
        status = "ok" if res.exit_code == 0 else "FAILED"
        worst = max(worst, res.exit_code)
        rows.append({"step": label, "status": status, "seconds": round(secs, 1)})
        payload[label] = res.payload
        if not args.json:
            texts.append(f"== {label} ({secs:.1f} s) ==\n{res.text}\n")
    summary = format_table(rows, ["step", "status", "seconds"])
    return Result({"steps": rows, "results": payload}, "\n".join(texts) + "== summary ==\n" + summary,
                  1 if worst else 0)
