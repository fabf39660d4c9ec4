"""Running the checks on a target: the report, shrunk findings and copy-pasteable reproducers.

>>> from drpo_analysis.fuzz import assert_conforms
>>> from drpo_analysis import losses_torch
>>> def my_ppo(logp, logp_mu, adv, mask, **params):
...     return losses_torch.policy_loss("ppo_clip", logp, logp_mu, adv, mask, params=params)
>>> assert_conforms(my_ppo, method="ppo_clip", examples=3, checks=["gradient"]).ok
True
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from drpo_analysis.fuzz import checks as _checks
from drpo_analysis.fuzz import verdict as _verdict
from drpo_analysis.fuzz.checks import CHECKS, Context, Probe, probe
from drpo_analysis.fuzz.strategies import Batch
from drpo_analysis.fuzz.targets import Target


#: batches per check (scaled per check): the CLI, the API and the pytest plugin all use it
DEFAULT_EXAMPLES = 24


@dataclass
class Finding:
    check: str
    kind: str                   # gradient mismatch, value mismatch, raises, timeout, non-finite, ...
    message: str
    counterexample: dict        # the shrunk batch (lists) and call options
    expected: Any
    got: Any
    seed: int
    reproducer: str
    sub_check: str = ""         # which probe of the check (e.g. "micro-batch split", "NaN padding")
    severity: str = "deviates"  # verdict.EDGE or verdict.DEVIATES
    explanation: str = ""
    fix: str = ""               # the likely fix

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    target: str
    method: str
    params: dict
    seed: int
    checks: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    declared: dict = field(default_factory=dict)     # the design choices the target declared
    notes: list[dict] = field(default_factory=list)  # {"note", "count", "checks"}: ties, clamps that bit
    passed: str = ""                                 # what a **kwargs target was passed

    @property
    def verdict(self) -> str:
        """One of :data:`verdict.VERDICTS`."""
        return _verdict.verdict(self.findings, self.declared, self.checks)

    @property
    def ok(self) -> bool:
        """No deviation and no check in error (conforms, with declared design choices, or edge cases only)."""
        return self.verdict not in ("deviates", "error")

    def exit_code(self, strict: bool = False) -> int:
        return _verdict.exit_code(self.verdict, strict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "verdict": self.verdict, "reason": _verdict.error_reason(self.checks),
                "target": self.target, "method": self.method,
                "params": self.params, "seed": self.seed, "seconds": round(self.seconds, 3),
                "declared": self.declared, "notes": self.notes, "checks": self.checks,
                "findings": [f.as_dict() for f in self.findings]}

    def text(self) -> str:
        from drpo_analysis.util.tables import format_table
        n_dev = sum(f.severity == _verdict.DEVIATES for f in self.findings)
        lines = [f"fuzz {self.target} against {self.method} {self.params or ''} (seed {self.seed}, "
                 f"{self.seconds:.1f} s): {self.verdict.upper()}"
                 + (f" ({n_dev} deviation(s), {len(self.findings) - n_dev} edge case(s))" if self.findings else ""),
                 *([f"error: {_verdict.error_reason(self.checks)}"] if self.verdict == "error" else []),
                 *([f"declared design choices: {self.declared}"] if self.declared else []),
                 *([f"note: {self.passed}"] if self.passed else []),
                 format_table(self.checks, ["name", "status", "examples", "detail"], max_width=110)]
        lines += [f"note: {n['note']}: {n['count']} token(s) (checks: {', '.join(n['checks'])})" for n in self.notes]
        for f in sorted(self.findings, key=lambda f: f.severity != _verdict.DEVIATES):
            expected = "finite loss and gradients" if f.expected is None else repr(f.expected)
            label = "DEVIATION" if f.severity == _verdict.DEVIATES else "EDGE CASE"
            lines += ["", f"{label} [{f.check} / {f.sub_check}] {f.kind}: {f.message}",
                      f"  expected {expected}, got {f.got!r}", f"  why: {f.explanation}",
                      f"  likely fix: {f.fix}", "  reproducer:",
                      *("    " + ln for ln in f.reproducer.splitlines())]
        return "\n".join(lines)


def _seed_for(seed: int, check: str) -> np.random.Generator:
    return np.random.default_rng([seed, sum(map(ord, check)), len(check)])


def minimize(target: Target, p: Probe) -> Probe:
    """A smaller batch that still fails the same way: the worst token alone, else its row alone."""
    b = p.batch
    if p.shards is not None or p.recipe or b.shape[0] == 0 or not b.mask.any():
        return p                                          # a large batch fails by its size: kept whole
    opts = {k: v for k, v in p.options().items() if k != "shards"}

    def still_fails(c):
        smaller = probe(target, Probe(c, **opts))
        return smaller if smaller is not None and smaller.kind == p.kind else None

    def token(bi, ti):
        return b.rows([bi]).replace(logp=b.logp[bi:bi + 1, ti:ti + 1], logp_mu=b.logp_mu[bi:bi + 1, ti:ti + 1],
                                    adv=b.adv[bi:bi + 1, ti:ti + 1], mask=np.ones((1, 1), bool),
                                    group_ids=np.zeros(1, int),
                                    extras={k: v[bi:bi + 1, ti:ti + 1] for k, v in b.extras.items()})
    if p.kind == "masked gradient":                       # the token is padding: shrink to its row
        rows, tokens = [p.index[0]], None
    elif p.index is not None and len(p.index) == 2:      # a mismatch names its worst token
        rows = [p.index[0]]
        tokens = [p.index]
    else:                                                 # an error: search rows, then tokens
        rows = [i for i in range(b.shape[0]) if b.mask[i].any()]
        tokens = None
    for bi in rows:
        row = still_fails(b.rows([bi]).replace(group_ids=np.zeros(1, int)))
        if row is None:
            continue
        for ti in (t for _, t in tokens) if tokens else np.flatnonzero(b.mask[bi]):
            one = still_fails(token(bi, int(ti)))
            if one is not None:
                return one
        return row
    return p


def _arr(a: np.ndarray) -> str:
    return "np.array(" + np.array2string(np.asarray(a), separator=", ", floatmode="unique",
                                         threshold=10**6, max_line_width=100) + ")"


def reproducer(target: Target, p: Probe) -> str:
    """A few lines of Python that re-run the failing comparison and raise AssertionError."""
    b = p.batch
    ex = ", extras={" + ", ".join(f"{k!r}: {_arr(v)}" for k, v in b.extras.items()) + "}" if b.extras else ""
    opts = ", ".join(f"{k}={v!r}" for k, v in p.options().items())
    if p.recipe:
        return "\n".join(["from drpo_analysis.fuzz import check_batch",
                          f"from drpo_analysis.fuzz.checks import {p.recipe.split('(')[0]}",
                          target.reproducer or f"# target = <{target.name}>",
                          f"batch = {p.recipe}", f"check_batch(target, batch, {opts})"])
    return "\n".join([
        "import numpy as np",
        "from numpy import inf, nan",
        "from drpo_analysis.fuzz import Batch, check_batch",
        target.reproducer or f"# target = <{target.name}>",
        f"batch = Batch(logp={_arr(b.logp)},",
        f"              logp_mu={_arr(b.logp_mu)},",
        f"              adv={_arr(b.adv)},",
        f"              mask={_arr(b.mask)}, group_ids={_arr(b.group_ids)}{ex})",
        f"check_batch(target, batch, {opts})",
    ])


def _add_finding(findings: list[Finding], f: Finding) -> None:
    """Append ``f`` unless a finding of the same check, kind, severity, explanation and message is
    listed (e.g. NaN from +inf, -inf and NaN padding alike): then only its sub-check is added."""
    for g in findings:
        if (g.check, g.kind, g.severity, g.explanation, g.message) == (f.check, f.kind, f.severity,
                                                                       f.explanation, f.message):
            if f.sub_check and f.sub_check not in g.sub_check.split(", "):
                g.sub_check = f"{g.sub_check}, {f.sub_check}" if g.sub_check else f.sub_check
            return
    findings.append(f)


def _finding(target: Target, check: str, p: Probe, seed: int, fix_note: str = "") -> Finding:
    fix = p.fix or _verdict.likely_fix(check, p.sub, p.kind)
    if fix_note and check == "aggregation" and "split" in p.sub:
        fix = f"{fix} ({fix_note})"
    ce = p.counterexample()
    if p.recipe:                  # thousands of tokens: the call that rebuilds them, and the token
        ce = {"batch": p.recipe, **{k: v for k, v in ce.items() if k not in ("logp", "logp_mu", "adv", "mask")}}
    return Finding(check, p.kind, p.message, ce, p.expected, p.got, seed, reproducer(target, p),
                   p.sub, p.severity or _verdict.DEVIATES, p.explanation, fix)


def fuzz(target: Target, *, seed: int = 0, examples: int = DEFAULT_EXAMPLES, checks: Iterable[str] | None = None,
         progress: bool = False, stop_at_first: bool = False) -> Report:
    """Run the named checks (default: all of :data:`CHECKS`) on ``target``; never raises for
    anything the target does. ``examples`` scales the number of batches per check;
    ``stop_at_first`` ends at the first deviation (the self-test only needs to know it is killed)."""
    names = list(checks or CHECKS)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(CHECKS)}")
    if examples < 1:
        raise ValueError(f"examples must be >= 1, got {examples}")
    report = Report(target.name, target.method, dict(target.params), seed, declared=target.declared,
                    passed=target.passed_note)
    t0 = time.perf_counter()
    it = names
    if progress:
        from tqdm import tqdm
        it = tqdm(names, desc=f"fuzz {target.name}", leave=False)
    hung = False
    notes: dict[str, dict] = {}
    for name in it:
        if hung:   # its worker thread may still be running: do not pile up more of them
            report.checks.append({"name": name, "status": "skipped", "examples": 0,
                                  "detail": "skipped: the target timed out in an earlier check"})
            continue
        ctx = Context(target, _seed_for(seed, name), examples)
        try:
            res = CHECKS[name](ctx)
        except Exception as exc:  # noqa: BLE001 - the fuzzer reports, it does not crash
            res = _checks.CheckResult(name, "error", detail=f"fuzzer error: {type(exc).__name__}: {exc}")
        row = {"name": name, "status": res.status, "examples": res.examples, "detail": res.detail}
        if res.coverage:
            row["coverage"] = res.coverage
        report.checks.append(row)
        for text, count in ctx.notes.items():
            n = notes.setdefault(text, {"note": text, "count": 0, "checks": [],
                                        "declared": text.startswith("declared")})
            n["count"] += count
            n["checks"].append(name)
        for fail in res.failures:
            hung = hung or fail.kind == "timeout"
            ran = fail.variant or target
            if not (stop_at_first or hung):
                try:
                    smaller = minimize(ran, fail)
                except Exception:  # noqa: BLE001 - shrinking is best effort; the finding stands as found
                    smaller = fail
                fail = replace(smaller, sub=fail.sub, severity=fail.severity, explanation=fail.explanation,
                               variant=fail.variant, fix=fail.fix)
            _add_finding(report.findings, _finding(ran, name, fail, seed, target.passed_note))
        if stop_at_first and res.status == "failed":
            break
    report.notes = list(notes.values())
    report.seconds = time.perf_counter() - t0
    return report


def check_batch(target: Target, batch: Batch, *, dtype: str = "float32", on_policy: bool = False,
                grad_inputs: bool = False, shards=None, dp: bool = False, clamp_to_dtype: bool = False) -> None:
    """Compare ``target`` with the reference on one batch; AssertionError with the details if it
    does not conform. The hypothesis-compatible entry point::

        @given(strategies.batches())
        def test_conforms(batch):
            check_batch(target, batch)
    """
    bad = probe(target, Probe(batch, dtype, on_policy, grad_inputs, shards, dp, clamp_to_dtype))
    if bad is not None:
        at = f" at token {bad.index}" if bad.index else ""
        raise AssertionError(f"{target.name} does not conform to {target.method}: {bad.kind}{at}: "
                             f"{bad.message}; expected {bad.expected!r}, got {bad.got!r}")


def assert_conforms(fn: Callable | Target, *, method: str | None = None, params: Mapping | None = None,
                    adapter: str | None = None, seed: int = 0, examples: int = DEFAULT_EXAMPLES,
                    checks: Iterable[str] | None = None, strict: bool = False, **options) -> Report:
    """pytest-friendly: fuzz ``fn`` and raise AssertionError listing every finding with its
    reproducer if the verdict is ``deviates`` (with ``strict``: anything but ``conforms*``).
    ``fn`` is a callable for ``adapter`` (default: detected from its signature) or a ready
    :class:`Target`; ``options`` go to the adapter (e.g. ``agg="seq-mean-token-mean"``,
    ``log_ratio_clamp=20``). Runs as many examples per seed as the command line."""
    from drpo_analysis.fuzz import adapters
    target = fn if isinstance(fn, Target) else adapters.make_target(adapter, fn, method=method,
                                                                    params=params, **options)
    report = fuzz(target, seed=seed, examples=examples, checks=checks)
    if report.exit_code(strict):
        raise AssertionError(report.text())
    return report
