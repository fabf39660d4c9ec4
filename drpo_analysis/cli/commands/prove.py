"""``drpo-analysis prove``: run the machine-checked claims in ``proofs/``."""
from __future__ import annotations

import time

from drpo_analysis.cli import Result, UsageError

from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table

HELP = "run the machine-checked claims in proofs/ (symbolic, exact rational, interval, numeric)"
DESCRIPTION = """\
Run every claim in proofs/ (one claim per file) and print a table: id, status, how it was
checked, seconds, and the evidence. A claim is 'proved' (symbolic, exact or interval argument
over the whole stated domain), 'no counterexample found' (sampled evidence: random points and an
adversarial search, both counted in the evidence), 'failed' (with a concrete counterexample) or
'error' (the check crashed or timed out).

Claims of kind 'asserted' are mathematics the project relies on. Claims of kind 'tested' are
statements the project does NOT vouch for (a paper's or explainer's numbers, our own conjectures):
their failure is a finding and is reported with its counterexample, but does not fail the
command. Exit code 1 if an asserted claim fails or any claim errors.

  drpo-analysis prove                               # all claims, table
  drpo-analysis prove drpo_weight_bounds pinsker    # only these ids
  drpo-analysis prove --list                        # ids and statements, nothing run
  drpo-analysis prove --json     # {"claims": [{"id","statement","status","evidence","source",
                                 #   "method","asserted","seconds","counterexample"?}],
                                 #  "seconds": total, "ok": bool}
"""


def add_arguments(p):
    from drpo_analysis.claims import proving

    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids (file stems in proofs/); default: all")
    p.add_argument("--list", action="store_true", help="list the claims without running them")
    p.add_argument("--timeout", type=float, default=proving.DEFAULT_TIMEOUT_S, metavar="S",
                   help="time limit per claim in seconds (default: %(default)g)")
    p.add_argument("--dir", default=None, metavar="PATH", help="proofs directory (default: the checkout's)")


def run(args) -> Result:
    from drpo_analysis.claims import proving

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.dir is not None:
        io.readable_dir(args.dir)
    try:
        claims = proving.discover(args.dir, args.ids or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.list:
        rows = [{"id": c.id, "asserted": c.asserted, "method": c.method, "statement": c.statement}
                for c in claims]
        return Result({"claims": rows}, format_table(rows, ["id", "asserted", "method", "statement"],
                                                     max_width=90))
    t0 = time.perf_counter()
    runs = proving.run_claims(claims, timeout=args.timeout, progress=not args.json)
    total = time.perf_counter() - t0
    blocking = proving.blocking_failures(runs)
    dicts = [r.as_dict() for r in runs]
    shown = [{**d, "kind": "asserted" if d["asserted"] else "tested",
              "evidence": _summary(d["evidence"]) + (f" | counterexample: {d['counterexample']}"
                                                      if "counterexample" in d else "")}
             for d in dicts]
    counts = {s: sum(d["status"] == s for d in dicts) for s in proving.STATUSES}
    text = "\n".join([
        format_table(shown, ["id", "status", "kind", "seconds", "evidence"], max_width=110),
        "",
        f"{counts['proved']} proved, {counts[proving.NO_COUNTEREXAMPLE]} no counterexample found, "
        f"{counts['failed']} failed, {counts['error']} error "
        f"in {total:.1f} s" + (f"; blocking: {', '.join(r.claim.id for r in blocking)}" if blocking else ""),
    ])
    return Result({"claims": dicts, "seconds": round(total, 2), "ok": not blocking}, text,
                  1 if blocking else 0)


def _summary(evidence) -> str:
    if isinstance(evidence, dict):
        return str(evidence.get("summary", evidence))
    return str(evidence)
