"""Core benchmarks (group ``core``): every number is a ratio measured in this process.

* ``numpy_weight/<method>``: ``losses_np.gradient_weight`` throughput (tokens/s, validation
  included, into a preallocated ``out=`` as the floor's ``np.exp(x, out=...)``) over 10M tokens
  against one ``np.exp`` pass over the same array (``bench.exp_floor``); target ≥ 0.40.
* ``torch_drpo_vs_naive_ppo``: per-token DRPO loss forward + backward over 1M tokens, time over
  the time of a plain PPO-clip loss written naively in torch on the same tensors; target ≤ 1.2.
  ``torch_ppo_clip_vs_naive_ppo``: the registry's own PPO-clip against the same naive loss.
* ``prove_wall_time``: ``drpo-analysis prove`` in a subprocess against its 120 s budget.
* ``numpy_compiler_<how>/<method>``: the same simplified weight expression compiled by
  ``symbolic.lambdify_where`` (shipped) and plain ``sympy.lambdify``, each against ``np.exp``.

Threads: every row runs single-threaded on both sides (the numpy kernels have no thread pool: a
two-thread pool measured 0.87-0.95x of one thread on a 2-core machine; torch with one intra-op
thread for the registry loss and the naive loss alike). Single-thread rows time CPU time (``time.thread_time`` / ``process_time``): on a machine shared
with other jobs, descheduling inflates a long kernel more than its short floor and would bias the
ratio; CPU time is immune to that (not to cache or memory-bandwidth contention). Each row's
``detail`` records its setting.
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from drpo_analysis.bench import timing as bench

from drpo_analysis.core import losses_np, methods

WEIGHT_TOKENS = (10_000_000, 200_000)   # (full, --quick)
TORCH_TOKENS = (1_000_000, 50_000)
TOPK_K = 4                              # Top-K set size of the benchmark inputs (DPPO uses 20)
PROVE_BUDGET_S = 120.0


def token_inputs(method: str, n: int, seed: int = 0, *, rng: np.random.Generator | None = None,
                 log_mu_low: float = -9.0, k: int = TOPK_K):
    """ℓ, ℓ_μ, Â [n] and the method's extras for ``n`` tokens (μ log-uniform down to
    e^``log_mu_low``), each extra drawn from its admissible values whatever its name: a
    log-probability set [n, k] (Top-K), a count in [1, 50) (|y|), a bounded-below statistic above
    its bound (verl's k2/k3 divergences), else a small log-ratio (GSPO's L)."""
    rng = np.random.default_rng(seed) if rng is None else rng
    ell_mu = rng.uniform(log_mu_low, 0.0, n)                        # [n]
    ell = np.minimum(ell_mu + rng.normal(0.0, 0.5, n), 0.0)         # [n]
    adv = rng.normal(0.0, 1.0, n)                                   # [n]
    extras = {}
    for e in methods.get(method).extras:
        if e.trailing:
            extras[e.name] = np.log(rng.dirichlet(np.ones(k + 1), n)[:, :k])   # [n, k]
        elif e.low is not None and e.low >= 1:
            extras[e.name] = rng.integers(1, 50, n).astype(np.float64)
        elif e.low is not None:          # a nonnegative statistic (verl's k2/k3 divergences)
            extras[e.name] = e.low + rng.exponential(0.1, n)
        else:
            extras[e.name] = rng.normal(0.0, 3e-4, n)
    return ell, ell_mu, adv, extras


def _weight_row(name: str, n: int, repeat: int, label: str, target: str):
    ell, ell_mu, adv, extras = token_inputs(name, n)
    losses_np.gradient_weight(name, ell[:8], ell_mu[:8], adv[:8],       # compile outside the timing
                              extras={k: v[:8] for k, v in extras.items()})
    out = np.empty_like(ell)   # preallocated like the floor's: both time the pass, not page faults
    clock = time.thread_time
    floor = bench.exp_floor(ell, repeat=repeat, clock=clock)
    t = bench.best_time(lambda: losses_np.gradient_weight(name, ell, ell_mu, adv, extras=extras, out=out),
                        repeat=repeat, clock=clock)
    detail = f"{n:.0e} tokens, chunk={losses_np.CHUNK}, single thread, CPU time"
    if any(e.trailing for e in methods.get(name).extras):   # a Top-K set [n, K]
        detail += f", K={TOPK_K}"
    return bench.measure(f"{label}/{name}", n / t, "tokens/s", floor, target, detail=detail)


def _stream_row(name: str, n: int, repeat: int):
    """Context for the ≥ 0.40 target: the weight kernel must stream three float64 inputs in and
    one out (4 × 8n bytes) where the np.exp floor streams one in and one out. This row compares
    the kernel with the cheapest pass of that same memory traffic (``out = ℓ + ℓ_μ + Â``)."""
    ell, ell_mu, adv, _ = token_inputs(name, n)
    out = np.empty_like(ell)

    def stream():
        np.add(ell, ell_mu, out=out)
        np.add(out, adv, out=out)
    floor = n / bench.best_time(stream, repeat=repeat, clock=time.thread_time)
    t = bench.best_time(lambda: losses_np.gradient_weight(name, ell, ell_mu, adv, out=out),
                        repeat=repeat, clock=time.thread_time)
    return bench.measure(f"numpy_weight_vs_stream/{name}", n / t, "tokens/s", floor, "",
                         detail="floor = out = ℓ + ℓ_μ + Â (same bytes moved), single thread, CPU time")


@bench.benchmark("numpy_weight", group="core")
def numpy_weights(*, quick: bool = False) -> list[bench.Measurement]:
    """Gradient-weight throughput of every method against one np.exp pass over the same array,
    both single-threaded."""
    n, repeat = WEIGHT_TOKENS[quick], (2 if quick else 3)
    rows = [_weight_row(name, n, repeat, "numpy_weight", ">= 0.40") for name in methods.names()]
    rows += [_stream_row(name, n, repeat) for name in ("pg_is", "drpo")]
    return rows


def _compiler_rows(name: str, n: int, repeat: int) -> list[bench.Measurement]:
    """The shipped weight kernel (``symbolic.lambdify_where``: Piecewise as nested ``numpy.where``)
    and plain ``sympy.lambdify`` (Piecewise as ``numpy.select``) of the *same* simplified weight
    expression (``symbolic.simplified_weight``), each run chunk by chunk (``losses_np.CHUNK``) into
    a preallocated output, single thread, CPU time; both as a ratio to one ``np.exp`` pass."""
    import sympy as sp

    from drpo_analysis.core import symbolic

    ell, ell_mu, adv, extras = token_inputs(name, n)
    arrays = [ell, ell_mu, adv, *methods.get(name).argument_values(extras)]   # [n] each
    syms, w = symbolic.simplified_weight(name)
    out = np.empty_like(ell)

    def chunked(fn):
        def run():
            for i in range(0, n, losses_np.CHUNK):
                sl = slice(i, i + losses_np.CHUNK)
                out[sl] = fn(*(a[sl] for a in arrays))
        return run

    detail = f"{n:.0e} tokens, chunk={losses_np.CHUNK}, single thread, CPU time, same expression"
    rows = []
    with np.errstate(all="ignore"):
        floor = bench.exp_floor(ell, repeat=repeat, clock=time.thread_time)
        for label, fn in (("lambdify_where", symbolic.lambdify_where(syms, w)),
                          ("lambdify", sp.lambdify(syms, w, modules="numpy", cse=True))):
            t = bench.best_time(chunked(fn), repeat=repeat, clock=time.thread_time)
            rows.append(bench.measure(f"numpy_compiler_{label}/{name}", n / t, "tokens/s", floor, "",
                                      detail=detail))
    return rows


@bench.benchmark("numpy_compiler", group="core")
def numpy_compilers(*, quick: bool = False) -> list[bench.Measurement]:
    """How the simplified weight is compiled: nested ``where`` against lambdify's ``select``,
    every method, ratios to one ``np.exp`` pass (an earlier in-place code generator measured
    0.66-1.37x of ``lambdify_where`` here and was removed)."""
    n, repeat = WEIGHT_TOKENS[quick], (2 if quick else 3)
    return [row for name in methods.names() for row in _compiler_rows(name, n, repeat)]


def naive_ppo_clip(logp, logp_mu, adv, eps_low=0.2, eps_high=0.28):
    """The plain PPO-clip per-token loss as usually written in torch (PPO eq. 7), [N]."""
    import torch

    ratio = torch.exp(logp - logp_mu)
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)


@bench.benchmark("torch_loss", group="core")
def torch_losses(*, quick: bool = False) -> list[bench.Measurement]:
    """Forward + backward of the registry's per-token losses against a naive PPO-clip."""
    import torch

    from drpo_analysis.core import losses_torch
    n = TORCH_TOKENS[quick]
    ell, ell_mu, adv, _ = token_inputs("drpo", n)
    # One intra-op thread for both sides: OpenMP barriers on a shared 2-core machine made
    # 2-thread timings swing 10x between runs; the ratio compares like with like.
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logp_mu, a = torch.tensor(ell_mu, dtype=torch.float32), torch.tensor(adv, dtype=torch.float32)
    logp = torch.tensor(ell, dtype=torch.float32, requires_grad=True)

    def fwd_bwd(loss_fn):
        def step():
            logp.grad = None
            loss_fn().sum().backward()
        step()  # warm-up
        return bench.best_time(step, repeat=3 if quick else 7, clock=time.process_time)

    try:
        t_naive = fwd_bwd(lambda: naive_ppo_clip(logp, logp_mu, a))
        detail = f"{n:.0e} tokens, float32, torch threads=1, CPU time"
        rows = []
        for name, target in (("drpo", "<= 1.2"), ("ppo_clip", "")):
            t = fwd_bwd(lambda: losses_torch.per_token_loss(name, logp, logp_mu, a))
            rows.append(bench.measure(f"torch_{name}_vs_naive_ppo", t, "s", t_naive, target,
                                      detail=detail + "; ratio = time(registry)/time(naive PPO-clip)"))
    finally:
        torch.set_num_threads(saved_threads)
    return rows


def prove_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("drpo_analysis.cli.commands.prove") is not None


@bench.benchmark("prove_wall_time", group="core")
def prove_wall_time(*, quick: bool = False) -> list[bench.Measurement]:
    """``drpo-analysis prove`` in a fresh interpreter, against its 120 s budget (docs/design.md#performance)."""
    name = "prove_wall_time"
    if not prove_available():
        return [bench.measure(name, None, "s", PROVE_BUDGET_S, "<= 1.0", detail="prove not available")]
    if quick:
        return [bench.measure(name, None, "s", PROVE_BUDGET_S, "<= 1.0", detail="skipped in --quick")]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "drpo_analysis.cli", "prove", "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    return [bench.measure(name, wall, "s", PROVE_BUDGET_S, "<= 1.0",
                          detail=f"ratio = wall/120 s budget; prove exit code {proc.returncode}")]
