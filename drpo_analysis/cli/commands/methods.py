"""``drpo-analysis methods``: the registry with parameters, paper defaults and derived weights."""
from __future__ import annotations

from drpo_analysis.cli import Result

from drpo_analysis.util.tables import format_table

HELP = "list the registered methods, their parameters, defaults and gradient weights"
DESCRIPTION = """\
List every registered method: family, source, parameters with the papers' defaults, whether the
loss value is meaningful (or only its gradient), and the gradient weight w derived by SymPy from
the method's single definition (convention dJ/dl = A r w, DRPO Table 1), as text and LaTeX.

  drpo-analysis methods              # table
  drpo-analysis methods --latex      # weights in LaTeX
  drpo-analysis methods --json       # {"methods": [{"name", "family", "title", "source",
                                     #   "params": {name: default}, "value_meaningful",
                                     #   "weight", "weight_latex", ...}]}
"""


def add_arguments(p):
    p.add_argument("--latex", action="store_true", help="show weights in LaTeX instead of text")
    p.add_argument("names", nargs="*", metavar="METHOD", help="only these methods (default: all)")


def run(args) -> Result:
    from drpo_analysis.core import methods, symbolic

    names = args.names or methods.names()
    rows = []
    for n in names:
        m = methods.get(n)
        rows.append({
            "name": m.name, "family": m.family, "title": m.title, "source": m.source,
            "params": {p.name: p.default for p in m.params},
            "param_docs": {p.name: p.doc for p in m.params},
            "param_sources": {p.name: p.source for p in m.params},
            "extras": [e.name for e in m.extras],
            "value_meaningful": m.value_meaningful,
            "weight": symbolic.weight_text(m.name),
            "weight_latex": symbolic.weight_latex(m.name),
            "notes": m.notes,
        })
    shown = [{**r, "params": ", ".join(f"{k}={v:g}" for k, v in r["params"].items()) or "-",
              "value": "yes" if r["value_meaningful"] else "grad only",
              "w": r["weight_latex"] if args.latex else r["weight"]} for r in rows]
    text = format_table(shown, ["name", "family", "params", "value", "w"], max_width=200)
    return Result({"methods": rows}, text)
