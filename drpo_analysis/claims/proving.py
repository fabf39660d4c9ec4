"""Machine-checked claims: the result type, the comparison helpers, and the runner of ``proofs/``.

Each file ``proofs/<claim>.py`` states ONE claim and exposes

* ``ID`` (the file stem), ``STATEMENT`` (the claim in words), ``SOURCE`` (paper, equation or
  docs/ section it comes from), ``METHOD`` (how it is checked, stated honestly: ``"symbolic"``,
  ``"exact rational enumeration"``, ``"interval"``, ``"randomised numeric"`` or a combination),
* optional ``ASSERTED`` (default True): False marks a claim *made by a paper* that the project
  does not vouch for; its failure is a finding, not a defect, and does not fail ``prove``;
* ``check() -> ProofResult``: ``proved`` (a symbolic, exact or interval argument over the whole
  stated domain) / ``no counterexample found`` (sampled evidence: the evidence says how many
  instances and which search) / ``failed`` (with a concrete counterexample) / ``error``.

:func:`run_claims` discovers and runs them, each under a time limit and exception capture, and
times each one. The comparison helpers below (:func:`first_mismatch`, :func:`is_zero_exact`,
:func:`interval_sign`) are the ones the proofs use, so the tests can show they detect a wrong
formula (a checker that cannot fail proves nothing).
"""
from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

NO_COUNTEREXAMPLE = "no counterexample found"
STATUSES = ("proved", NO_COUNTEREXAMPLE, "failed", "error")
METHODS = ("symbolic", "exact rational enumeration", "interval", "randomised numeric")
DEFAULT_TIMEOUT_S = 90.0


@dataclass
class ProofResult:
    """Outcome of one ``check()``: status, evidence (text or JSON-able dict), counterexample."""

    status: str
    evidence: Any
    counterexample: dict[str, Any] | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "failed" and not self.counterexample:
            raise ValueError("a failed claim must carry a concrete counterexample")


def proved(evidence: Any) -> ProofResult:
    return ProofResult("proved", evidence)


def no_counterexample(evidence: Any) -> ProofResult:
    """Sampled evidence only (random points, an adversarial search): never labelled proved."""
    return ProofResult(NO_COUNTEREXAMPLE, evidence)


def failed(evidence: Any, counterexample: Mapping[str, Any]) -> ProofResult:
    return ProofResult("failed", evidence, dict(counterexample))


def verdict(ok: bool, evidence: Any, counterexample: Mapping[str, Any] | None) -> ProofResult:
    """``proved(evidence)`` if ``ok`` else ``failed(evidence, counterexample)``."""
    return proved(evidence) if ok else failed(evidence, counterexample or {"note": "see evidence"})


# --- comparison helpers used by the proofs -----------------------------------------------------

def first_mismatch(expected: np.ndarray, got: np.ndarray, *, rtol: float, atol: float,
                   inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, Any] | None:
    """The worst point where ``|got − expected| > atol + rtol·|expected|``, or None.

    Non-finite values must match exactly (same inf / nan pattern). The returned counterexample
    names the inputs at that point, so a failed claim is reproducible from its evidence.
    """
    expected, got = np.broadcast_arrays(np.asarray(expected, float), np.asarray(got, float))
    both_nan = np.isnan(expected) & np.isnan(got)
    with np.errstate(invalid="ignore"):
        excess = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    excess = np.where(both_nan | (expected == got), -np.inf, np.nan_to_num(excess, nan=np.inf))
    i = int(np.argmax(excess))
    if excess.flat[i] <= 0:
        return None
    out = {"expected": float(expected.flat[i]), "got": float(got.flat[i]), "index": i}
    for k, v in (inputs or {}).items():
        out[k] = float(np.broadcast_to(v, expected.shape).flat[i])
    return out


def nonnegative_certificate(slack, products: Sequence[Sequence[str]], facts: Mapping[str, Any]) -> str | None:
    """Check ``slack ≡ Σ_i Π_j facts[products[i][j]]`` as a polynomial identity (SymPy ``expand``).

    ``facts`` maps names to expressions that are ≥ 0 under the step's hypotheses (each stated
    with its justification by the caller); a product may also hold nonnegative rational numbers
    as strings (``"2"``). If the identity holds, ``slack ≥ 0`` on the whole domain where the facts
    hold. Returns None when the certificate is valid, else the nonzero residual (or the unknown
    fact name) as text, so a wrong inequality step is reported rather than accepted.
    """
    import sympy as sp

    total = sp.Integer(0)
    for prod in products:
        term = sp.Integer(1)
        for name in prod:
            if name in facts:
                term *= sp.sympify(facts[name])
            else:
                try:
                    c = sp.Rational(name)
                except (TypeError, ValueError):
                    return f"unknown fact {name!r}"
                if c < 0:
                    return f"negative coefficient {name!r}"
                term *= c
        total += term
    residual = sp.expand(sp.sympify(slack) - total)
    return None if residual == 0 else str(residual)


def batched_ascent(objective, x0, *, steps: int = 300, lr: float = 0.05) -> tuple[float, np.ndarray]:
    """Maximise ``objective`` from many starts at once: Adam on the rows of ``x0`` [B, n] (torch
    float64 autograd; ``objective(x)`` returns [B] values, one per start). Tracks every row's best
    value over all steps (non-finite values ignored). Returns ``(best value, its x)``: the
    gradient-based multi-start search behind the sampled claims' reported maxima.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: threads only contend on a shared 2-core machine
    try:
        return _adam_rows(objective, x0, steps, lr)
    finally:
        torch.set_num_threads(threads)


def _adam_rows(objective, x0, steps, lr):
    import torch

    x = torch.tensor(np.asarray(x0, float), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    best, arg = -np.inf, None
    for _ in range(steps + 1):
        val = objective(x)                                                      # [B]
        with torch.no_grad():
            v = torch.where(torch.isfinite(val), val, torch.full_like(val, -np.inf))
            i = int(torch.argmax(v))
            if float(v[i]) > best:
                best, arg = float(v[i]), x[i].detach().numpy().copy()
        opt.zero_grad()
        (-torch.where(torch.isfinite(val), val, torch.zeros_like(val)).sum()).backward()
        opt.step()
    return best, arg


def fd_ascent(fun, x0, *, steps: int = 20, h: float = 1e-4, lr: float = 0.2,
              lower=None, upper=None) -> tuple[float, np.ndarray]:
    """Maximise ``fun`` (numpy: ``[B, n] -> [B]``) from every row of ``x0`` at once by
    finite-difference gradient ascent (central differences, normalised steps of length ``lr``,
    clipped to ``[lower, upper]``), for functions with no autograd (e.g. the error of a numeric
    implementation). Tracks every row's best value; returns ``(best value, its x)``.
    """
    x = np.array(x0, float)
    lo = -np.inf if lower is None else np.asarray(lower, float)
    hi = np.inf if upper is None else np.asarray(upper, float)
    best, arg = -np.inf, None
    for _ in range(steps + 1):
        v = np.where(np.isfinite(val := np.asarray(fun(x), float)), val, -np.inf)
        i = int(np.argmax(v))
        if v[i] > best:
            best, arg = float(v[i]), x[i].copy()
        grad = np.zeros_like(x)
        for j in range(x.shape[1]):
            e = np.zeros(x.shape[1])
            e[j] = h
            up, dn = np.asarray(fun(np.clip(x + e, lo, hi)), float), np.asarray(fun(np.clip(x - e, lo, hi)), float)
            grad[:, j] = np.nan_to_num((up - dn) / (2 * h), nan=0.0, posinf=0.0, neginf=0.0)
        norm = np.linalg.norm(grad, axis=1, keepdims=True)
        x = np.clip(x + lr * grad / np.where(norm > 0, norm, 1.0), lo, hi)
    return best, arg


def max_rel_error(expected: np.ndarray, got: np.ndarray, atol: float) -> float:
    """``max |got − expected| / (atol + |expected|)`` over finite entries (evidence summaries)."""
    e, g = np.asarray(expected, float), np.asarray(got, float)
    ok = np.isfinite(e) & np.isfinite(g)
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(g[ok] - e[ok]) / (atol + np.abs(e[ok]))))


def is_zero_exact(expr) -> bool:
    """True iff the SymPy expression is identically zero (``simplify`` after expanding logs).

    Used on expressions without free symbols (exact rational points) or on polynomial /
    rational identities, where ``simplify`` decides zero-ness reliably.
    """
    import sympy as sp

    e = sp.sympify(expr)
    if e == 0:
        return True
    return sp.simplify(sp.expand_log(sp.expand(e), force=True)) == 0


def interval_sign(expr, prec: int = 120) -> int:
    """Certified sign (−1 or +1) of a closed-form real number by interval arithmetic
    (``mpmath.iv`` at ``prec`` bits); raises ValueError if the enclosing interval contains 0."""
    import mpmath
    import sympy as sp

    e = sp.sympify(expr)
    if e == 0:
        raise ValueError("expression is exactly 0; interval_sign certifies nonzero signs only")
    old = mpmath.iv.prec
    mpmath.iv.prec = prec
    try:
        iv = _iv_eval(e)
    finally:
        mpmath.iv.prec = old
    if iv.a > 0:
        return 1
    if iv.b < 0:
        return -1
    raise ValueError(f"interval {iv} of {e} contains 0 at {prec} bits")


def _iv_eval(e):
    """Evaluate a SymPy expression built from rationals, +, ×, powers, log and exp in mpmath.iv."""
    import mpmath
    import sympy as sp

    iv = mpmath.iv
    if e.is_Rational:
        return iv.mpf(int(e.p)) / iv.mpf(int(e.q))
    if e == sp.E:
        return iv.exp(iv.mpf(1))
    if isinstance(e, sp.Add):
        out = iv.mpf(0)
        for a in e.args:
            out += _iv_eval(a)
        return out
    if isinstance(e, sp.Mul):
        out = iv.mpf(1)
        for a in e.args:
            out *= _iv_eval(a)
        return out
    if isinstance(e, sp.Pow) and e.exp.is_Integer:
        return _iv_eval(e.base) ** int(e.exp)
    if isinstance(e, sp.log):
        return iv.log(_iv_eval(e.args[0]))
    if isinstance(e, sp.exp):
        return iv.exp(_iv_eval(e.args[0]))
    raise ValueError(f"interval_sign cannot evaluate {e.func.__name__} in {e}")


# --- discovery and running ---------------------------------------------------------------------

def proofs_dir() -> Path:
    """``proofs/`` at the top of the checkout (next to the ``drpo_analysis`` package)."""
    from drpo_analysis.util.paths import repo_root

    return repo_root() / "proofs"


@dataclass
class Claim:
    """A loaded ``proofs/<id>.py`` module and its declared metadata."""

    id: str
    statement: str
    source: str
    method: str
    asserted: bool
    module: ModuleType = field(repr=False)
    path: Path | None = None


@dataclass
class ClaimRun:
    claim: Claim
    result: ProofResult
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        d = {"id": self.claim.id, "statement": self.claim.statement, "status": self.result.status,
             "evidence": self.result.evidence, "source": self.claim.source,
             "method": self.claim.method, "asserted": self.claim.asserted,
             "seconds": round(self.seconds, 3)}
        if self.result.counterexample is not None:
            d["counterexample"] = self.result.counterexample
        return d


REQUIRED = ("ID", "STATEMENT", "SOURCE", "METHOD", "check")


def load_claim(path: Path) -> Claim:
    """Import one proof file (as module ``drpo_proofs.<stem>``) and read its metadata."""
    path = Path(path)
    name = f"drpo_proofs.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"path {path} is not an importable Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    missing = [a for a in REQUIRED if not hasattr(mod, a)]
    if missing:
        raise ValueError(f"proof file {path} lacks {missing}")
    if mod.ID != path.stem:
        raise ValueError(f"proof file {path}: ID {mod.ID!r} must equal the file stem {path.stem!r}")
    return Claim(mod.ID, mod.STATEMENT, mod.SOURCE, mod.METHOD, getattr(mod, "ASSERTED", True), mod, path)


def discover(directory: Path | str | None = None, ids: Sequence[str] | None = None) -> list[Claim]:
    """Load every ``proofs/*.py`` (sorted), or only ``ids``; unknown ids raise ValueError."""
    directory = Path(directory) if directory is not None else proofs_dir()
    if not directory.is_dir():
        raise ValueError(f"proofs directory {directory} does not exist (run from a checkout)")
    paths = {p.stem: p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")}
    if ids:
        unknown = sorted(set(ids) - set(paths))
        if unknown:
            raise ValueError(f"unknown claim id(s) {unknown}; known: {', '.join(paths)}")
        paths = {k: paths[k] for k in ids}
    return [load_claim(p) for p in paths.values()]


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """SIGALRM-based limit (main thread on POSIX); elsewhere the claim runs without a limit."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def handler(signum, frame):
        raise _Timeout()
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_claim(claim: Claim, timeout: float | None = DEFAULT_TIMEOUT_S) -> ClaimRun:
    """Run ``claim.check()`` with a time limit; exceptions and bad return values become ``error``."""
    t0 = time.perf_counter()
    try:
        with _time_limit(timeout):
            result = claim.module.check()
        if not isinstance(result, ProofResult):
            result = ProofResult("error", f"check() returned {type(result).__name__}, not ProofResult")
    except _Timeout:
        result = ProofResult("error", f"timed out after {timeout:g} s")
    except Exception as exc:  # noqa: BLE001 - a crashing proof is reported, not raised
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        result = ProofResult("error", f"{type(exc).__name__}: {exc}\n{''.join(tb[-3:])}")
    return ClaimRun(claim, result, time.perf_counter() - t0)


_LAST_RUNS: dict[str, ClaimRun] = {}  # per process: claim id -> latest run (for reuse=True)


def run_claims(claims: Iterable[Claim], timeout: float | None = DEFAULT_TIMEOUT_S,
               progress: bool = False, reuse: bool = False) -> list[ClaimRun]:
    """Run claims in order (with a tqdm bar on stderr when ``progress``).

    Every run is remembered for the rest of the process; ``reuse=True`` returns a remembered
    run of the same claim file instead of running it again (the checks are deterministic), so
    ``demo`` does not prove everything twice when ``audit`` follows ``prove``.
    """
    claims = list(claims)
    if reuse:
        fresh = [c for c in claims if not _remembered(c)]
        done = {r.claim.id: r for r in run_claims(fresh, timeout, progress)}
        return [done.get(c.id) or _LAST_RUNS[c.id] for c in claims]
    it = claims
    if progress:
        from tqdm import tqdm
        it = tqdm(claims, desc="prove", unit="claim", file=sys.stderr, leave=False)
    runs = []
    for c in it:
        if progress:
            it.set_postfix_str(c.id)
        run = run_claim(c, timeout)
        _LAST_RUNS[c.id] = run
        runs.append(run)
    return runs


def _remembered(claim: Claim) -> bool:
    r = _LAST_RUNS.get(claim.id)
    return r is not None and r.claim.path == claim.path and r.result.status != "error"


def blocking_failures(runs: Iterable[ClaimRun]) -> list[ClaimRun]:
    """Runs that make ``prove`` exit 1: any error, and failures of claims the project asserts."""
    return [r for r in runs if r.result.status == "error"
            or (r.result.status == "failed" and r.claim.asserted)]


# --- small SymPy conveniences shared by the proofs ---------------------------------------------

def weight_of(name: str, **values):
    """``(w, symbols)``: the derived weight of ``name`` with the named parameters substituted
    (exact rationals via ``str``), and the dict of the method's parameter symbols."""
    import sympy as sp

    from drpo_analysis.core import methods, symbolic

    syms = symbolic.param_symbols(methods.get(name))
    unknown = sorted(set(values) - set(syms))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {name!r}; accepted: {sorted(syms)}")
    w = symbolic.weight(name).subs({syms[k]: sp.Rational(str(v)) for k, v in values.items()})
    return w, syms


def objective_of(name: str, adv_sign: int):
    """``(J, symbols)``: the registry's per-token objective of ``name`` in probability space,
    ``ℓ = sg(ℓ) → log π`` and ``ℓ_μ → log μ``, with ``Â = s·a`` (``a = |Â| > 0``, ``s`` = ±1).

    Returns J as a SymPy expression in (π, μ, a, params) and ``{"pi", "mu", "a", **params}``.
    """
    import sympy as sp

    from drpo_analysis.core import methods, symbolic

    if adv_sign not in (1, -1):
        raise ValueError(f"adv_sign must be +1 or -1, got {adv_sign!r}")
    pi, mu, a = sp.symbols("pi mu a", positive=True)
    syms = symbolic.param_symbols(methods.get(name))
    j = symbolic.objective(name).subs({symbolic.ELL: sp.log(pi), symbolic.ELL_SG: sp.log(pi),
                                       symbolic.ELL_MU: sp.log(mu), symbolic.ADV: adv_sign * a})
    return sp.simplify(sp.powsimp(sp.expand_power_exp(sp.expand(j)))), {"pi": pi, "mu": mu, "a": a, **syms}


def stationary_maximum(name: str, pi_star, second):
    """Check the registry objective of ``name`` has, for each sign ``s`` of Â = s·a, exactly one
    stationary point in π, equal to ``pi_star(sym, s)``, with ``d²J/dπ² = second(sym, s)`` < 0.

    ``sym`` is the symbol dict of :func:`objective_of`. Returns ``(evidence, None)`` when it holds
    for both signs, else ``(None, failed ProofResult)`` with the counterexample sign.
    """
    import sympy as sp

    out = {}
    for s in (1, -1):
        j, sym = objective_of(name, s)
        pi = sym["pi"]
        crit = sp.solve(sp.diff(j, pi), pi)
        d2 = sp.simplify(sp.diff(j, pi, 2))
        if len(crit) != 1 or not is_zero_exact(crit[0] - pi_star(sym, s)):
            return None, failed(f"s={s}: stationary points {crit}", {"s": s, "critical": str(crit)})
        if not is_zero_exact(d2 - second(sym, s)) or not d2.is_negative:
            return None, failed("second derivative is not the stated negative value",
                                {"s": s, "second": str(d2), "stated": str(second(sym, s))})
        out[f"s={s:+d}"] = {"pi_star": str(crit[0]), "d2J/dpi2": str(d2)}
    return out, None
