"""``drpo-analysis bench``: benchmarks reported as ratios against floors measured in the same run."""
from __future__ import annotations

from drpo_analysis.cli import Result

from drpo_analysis.util.tables import format_table

HELP = "run the benchmarks (ratios against a floor measured in the same run)"
DESCRIPTION = """\
Run the benchmarks. Each row is a ratio measured in one process: a kernel against a floor (one
np.exp pass over the same array, a matmul of the same shape, ...) or one implementation against
another on the same inputs. Never bare times.

  drpo-analysis bench                    # all benchmarks, table
  drpo-analysis bench --only core        # a group or benchmark name (repeatable)
  drpo-analysis bench --quick            # smaller sizes (smoke check of the harness)
  drpo-analysis bench --json             # {"benchmarks": [{"name","value","unit","floor",
                                         #   "ratio","target","ok","detail"}]}
Exit code 1 if any target is missed.
"""


def add_arguments(p):
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only this benchmark or group (repeatable)")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes")


def run(args) -> Result:
    from drpo_analysis.bench import timing as bench

    rows = bench.run(args.only, quick=args.quick, progress=not args.json)
    dicts = [r.as_dict() for r in rows]
    text = format_table(dicts, ["name", "value", "unit", "floor", "ratio", "target", "ok", "detail"],
                        max_width=70)
    failed = any(r.ok is False for r in rows)
    return Result({"benchmarks": dicts}, text, 1 if failed else 0)
