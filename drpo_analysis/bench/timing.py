"""Benchmarks: every number is a ratio against a floor (or a peer) measured in the same run.

A benchmark is a function decorated with :func:`benchmark`; it returns one or more
:class:`Measurement` rows. Areas keep their benchmarks next to their code and are collected
from :data:`BENCH_MODULES` (a module that is not there yet is skipped).

JSON (``drpo-analysis bench --json``)::

    {"benchmarks": [{"name", "value", "unit", "floor", "ratio", "target", "ok", "detail"}]}

``ratio`` is ``value / floor`` oriented so that larger is better unless ``target`` says ``<=``.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

BENCH_MODULES = (
    "drpo_analysis.bench.core",
    "drpo_analysis.bench.fuzz",
    "drpo_analysis.bench.sim",
    "drpo_analysis.bench.rl",
    "drpo_analysis.bench.diagnose",
)

_REGISTRY: dict[str, tuple[str, Callable[..., list["Measurement"]]]] = {}


@dataclass
class Measurement:
    name: str
    value: float
    unit: str
    floor: float | None
    ratio: float | None
    target: str          # e.g. ">= 0.40" or "<= 1.2"
    ok: bool | None
    detail: str = ""

    def as_dict(self):
        return asdict(self)


def check_target(ratio: float | None, target: str) -> bool | None:
    """Evaluate ``ratio`` against a target string ``">= x"`` / ``"<= x"`` (None if no ratio)."""
    if ratio is None or not target:
        return None
    op, x = target.split()
    return ratio >= float(x) if op == ">=" else ratio <= float(x)


def measure(name, value, unit, floor, target, *, higher_is_better=True, detail="") -> Measurement:
    """Build a row; ``ratio = value/floor`` (or floor/value when lower is better)."""
    if floor is None or floor == 0 or value is None:
        ratio = None
    else:
        ratio = value / floor if higher_is_better else floor / value
    return Measurement(name, value, unit, floor, ratio, target, check_target(ratio, target), detail)


def benchmark(name: str, group: str = "core"):
    def deco(fn):
        _REGISTRY[name] = (group, fn)
        return fn
    return deco


def best_time(fn: Callable[[], object], *, repeat: int = 5, number: int = 1,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Best-of-``repeat`` time (s) of ``number`` calls: the least disturbed estimate.

    clock: wall time by default; ``time.thread_time`` (CPU time of this thread) for single-thread
    kernels on a shared machine, where descheduling would otherwise inflate long runs more than
    short ones and bias a ratio.
    """
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best


def exp_floor(x: np.ndarray, *, repeat: int = 5, clock: Callable[[], float] = time.perf_counter) -> float:
    """Elements per second of one ``np.exp`` pass over ``x`` into a preallocated output."""
    out = np.empty_like(x)
    return x.size / best_time(lambda: np.exp(x, out=out), repeat=repeat, clock=clock)


def load_all() -> dict[str, tuple[str, Callable]]:
    for mod in BENCH_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is None or not mod.startswith(exc.name):
                raise
    return dict(_REGISTRY)


def run(only: list[str] | None = None, *, quick: bool = False, progress: bool = True) -> list[Measurement]:
    """Run the registered benchmarks (``only``: names or groups) and return their rows."""
    from tqdm import tqdm

    reg = load_all()
    chosen = [(n, g, f) for n, (g, f) in reg.items() if not only or n in only or g in only]
    if only and not chosen:
        raise ValueError(f"no benchmark named or grouped {only}; available: {sorted(reg)}")
    rows: list[Measurement] = []
    for name, _group, fn in tqdm(chosen, desc="bench", disable=not progress, leave=False):
        rows.extend(fn(quick=quick))
    return rows
