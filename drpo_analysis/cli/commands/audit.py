"""``drpo-analysis audit``: the claims table (docs/claims.md) with verdicts, regimes and evidence."""
from __future__ import annotations

from drpo_analysis.cli import Result, UsageError

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "audit every claim of the DRPO/DPPO/SPO papers and the explainer; writes paper_repro/CLAIMS.md"
DESCRIPTION = """\
Evaluate every claim listed in docs/claims.md (DRPO, DPPO, SPO papers, a popular explainer):
each row has its source, the claim, a verdict, the regime where it holds, the evidence (proof ids
from proofs/, computed values, counterexamples, measured numbers with 95% CIs and the file they
come from) and what the claim becomes AT THE HYPERPARAMETERS THE PAPERS REPORT USING (DRPO
delta = 12.5, SPO eps = 12.5, DPPO-TV delta = 0.15/0.2, DPPO-KL 0.05, GRPO 0.2/0.28).
It runs the proofs it cites (as `drpo-analysis prove` does).

Verdicts of mathematical claims (decided by proofs/):
  holds | fails | holds only in a stated regime
Verdicts of empirical claims, read from COMMITTED results only (nothing is re-run): the RL runs
(paper_repro/results = noise regime, paper_repro/results_drift = drift regime, judged by the
rules of drpo_analysis/rl/report.py) and the simulations (figures/sim_vocab.json,
figures/data/sim_*.jsonl). Each source gets reproduced / not reproduced / inconclusive; the row:
  reproduced                       by every source that evaluated it
  reproduced only in some regimes  by at least one, not all (regime column lists each)
  not reproduced                   by none, contradicted by at least one
  inconclusive                     by none, contradicted by none
  not evaluated here               a reported setting, or the result file is missing (the
                                   evidence names the command that produces it)

  drpo-analysis audit                         # table; writes paper_repro/CLAIMS.md
  drpo-analysis audit --no-write              # table only
  drpo-analysis audit drpo.same_geometry      # only these claim ids
  drpo-analysis audit --json                  # {"claims": [{"id","source","claim","verdict",
                                              #   "regime","evidence","at_paper_hyperparameters",
                                              #   "proofs","findings"}], "counts": {...},
                                              #   "markdown": path}; findings: one {"source",
                                              #   "verdict","text","pointer"} per empirical source
Exit code 1 if a proof the audit relies on errors or a claim the project asserts fails.
"""


def add_arguments(p):
    p.add_argument("ids", nargs="*", metavar="ID", help="audit claim ids (default: all)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="Markdown output (default: paper_repro/CLAIMS.md of the checkout)")
    p.add_argument("--no-write", action="store_true", help="do not write the Markdown file")


def run(args) -> Result:
    from drpo_analysis.claims import audit, proving

    known = {c.id for c in audit.CLAIMS}
    unknown = sorted(set(args.ids) - known)
    if unknown:
        raise UsageError(f"unknown audit claim id(s) {unknown}; known: {', '.join(sorted(known))}")
    path = None
    if not args.no_write:
        if args.ids and args.out is None:
            raise UsageError("a partial audit (ids given) is not written to paper_repro/CLAIMS.md; "
                             "pass --out PATH or --no-write")
        path = io.writable_file(args.out or proving.proofs_dir().parent / "paper_repro" / "CLAIMS.md")
    rows, runs = audit.run_audit(args.ids or None, progress=not args.json)
    written = None
    if path is not None:
        io.write_text(path, audit.to_markdown(rows))
        written = str(path)
    counts = audit.summary_counts(rows)
    blocking = proving.blocking_failures(runs)
    text = "\n".join([
        format_table(rows, ["id", "verdict", "regime", "at_paper_hyperparameters"], max_width=70),
        "",
        ", ".join(f"{k}: {v}" for k, v in counts.items())
        + (f"; wrote {written}" if written else "")
        + (f"; blocking proofs: {', '.join(r.claim.id for r in blocking)}" if blocking else ""),
    ])
    return Result({"claims": rows, "counts": counts, "markdown": written}, text, 1 if blocking else 0)
