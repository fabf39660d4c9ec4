"""``drpo-analysis figures``: regenerate every figure into ``figures/``.

Each figure is produced by a script ``figures/make_<name>.py`` exposing ``main(outdir) -> list of
written paths``; this command runs them all (or those named).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from drpo_analysis.util.paths import repo_root
from drpo_analysis.cli import Result, UsageError

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "regenerate every paper-style figure into figures/"
DESCRIPTION = """\
Regenerate the figures: runs every figures/make_*.py script of the checkout (each composes the
plotting functions of drpo_analysis.reporting.plotting) and writes PNGs.

  drpo-analysis figures                 # all scripts, PNGs into figures/
  drpo-analysis figures weights         # only figures/make_weights.py
  drpo-analysis figures --out /tmp/f    # another output folder
"""


def add_arguments(p):
    p.add_argument("names", nargs="*", help="script names without make_ / .py (default: all)")
    p.add_argument("--out", default=None, help="output folder (default: figures/ of the checkout)")


def scripts(folder: Path) -> dict[str, Path]:
    return {p.stem[len("make_"):]: p for p in sorted(folder.glob("make_*.py"))}


def run(args) -> Result:
    from tqdm import tqdm

    folder = repo_root() / "figures"
    found = scripts(folder)
    if not found:
        raise UsageError(f"no figures/make_*.py scripts under {folder} (run from a source checkout)")
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        raise UsageError(f"unknown figure(s) {unknown}; available: {sorted(found)}")
    out = io.writable_dir(args.out) if args.out else folder
    rows = []
    for name in tqdm(args.names or list(found), desc="figures", disable=args.json, leave=False):
        spec = importlib.util.spec_from_file_location(f"_fig_{name}", found[name])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for path in mod.main(out):
            rows.append({"script": name, "path": str(path)})
    return Result({"figures": rows}, format_table(rows, ["script", "path"], max_width=100))
