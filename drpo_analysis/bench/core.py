"""Core benchmarks (group ``core``): every number is a ratio measured in this process.

* ``numpy_weight/<method>``: ``losses_np.gradient_weight`` throughput (tokens/s, validation
  included, into a preallocated ``out=`` as the floor's ``np.exp(x, out=...)``) over 10M tokens
  against one ``np.exp`` pass over the same array (``bench.exp_floor``); target ≥ 0.40.
* ``torch_drpo_vs_naive_ppo``: per-token DRPO loss forward + backward over 1M tokens, time over
  the time of a plain PPO-clip loss written naively in torch on the same tensors; target ≤ 1.2.
  ``torch_ppo_clip_vs_naive_ppo``: the registry's own PPO-clip against the same naive loss.
* ``prove_wall_time``: ``drpo-analysis prove`` in a subprocess against its 120 s budget.

Threads: the targeted rows run single-threaded on both sides (numpy kernels with
``losses_np.THREADS = 1`` against the single-thread ``np.exp`` floor; torch with one intra-op
thread for the registry loss and the naive loss alike). ``numpy_weight_threaded/drpo`` shows the
kernel with its thread pool (env ``DRPO_ANALYSIS_THREADS``) against the same floor, no target.
Single-thread rows time CPU time (``time.thread_time`` / ``process_time``): on a machine shared
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


def token_inputs(method: str, n: int, seed: int = 0):
    """ℓ, ℓ_μ, Â [n] and the method's extras for ``n`` tokens (μ log-uniform down to e^−9)."""
    rng = np.random.default_rng(seed)
    ell_mu = rng.uniform(-9.0, 0.0, n)                              # [n]
    ell = np.minimum(ell_mu + rng.normal(0.0, 0.5, n), 0.0)         # [n]
    adv = rng.normal(0.0, 1.0, n)                                   # [n]
    extras = {}
    for e in methods.get(method).extras:
        if e.name == "seq_log_ratio":
            extras[e.name] = rng.normal(0.0, 3e-4, n)
        elif e.name == "seq_len":
            extras[e.name] = rng.integers(1, 50, n).astype(np.float64)
        elif e.name in ("topk_logp_mu", "topk_logp"):
            extras[e.name] = np.log(rng.dirichlet(np.ones(TOPK_K + 1), n)[:, :TOPK_K])   # [n, K]
    return ell, ell_mu, adv, extras


def _weight_row(name: str, n: int, repeat: int, threads: int, label: str, target: str):
    ell, ell_mu, adv, extras = token_inputs(name, n)
    losses_np.gradient_weight(name, ell[:8], ell_mu[:8], adv[:8],       # compile outside the timing
                              extras={k: v[:8] for k, v in extras.items()})
    out = np.empty_like(ell)   # preallocated like the floor's: both time the pass, not page faults
    clock = time.thread_time if threads == 1 else time.perf_counter
    saved, losses_np.THREADS = losses_np.THREADS, threads
    try:
        floor = bench.exp_floor(ell, repeat=repeat, clock=clock)
        t = bench.best_time(lambda: losses_np.gradient_weight(name, ell, ell_mu, adv, extras=extras, out=out),
                            repeat=repeat, clock=clock)
    finally:
        losses_np.THREADS = saved
    detail = (f"{n:.0e} tokens, numpy threads={threads}, chunk={losses_np.CHUNK}, "
              f"{'CPU' if threads == 1 else 'wall'} time")
    if name.startswith("dppo_topk_"):
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
    saved, losses_np.THREADS = losses_np.THREADS, 1
    try:
        floor = n / bench.best_time(stream, repeat=repeat, clock=time.thread_time)
        t = bench.best_time(lambda: losses_np.gradient_weight(name, ell, ell_mu, adv, out=out),
                            repeat=repeat, clock=time.thread_time)
    finally:
        losses_np.THREADS = saved
    return bench.measure(f"numpy_weight_vs_stream/{name}", n / t, "tokens/s", floor, "",
                         detail="floor = out = ℓ + ℓ_μ + Â (same bytes moved), single thread, CPU time")


@bench.benchmark("numpy_weight", group="core")
def numpy_weights(*, quick: bool = False) -> list[bench.Measurement]:
    """Gradient-weight throughput of every method against one np.exp pass over the same array,
    both single-threaded; plus DRPO with the kernel's thread pool (informative, no target)."""
    n, repeat = WEIGHT_TOKENS[quick], (2 if quick else 3)
    rows = [_weight_row(name, n, repeat, 1, "numpy_weight", ">= 0.40") for name in methods.names()]
    rows += [_stream_row(name, n, repeat) for name in ("pg_is", "drpo")]
    if losses_np.THREADS > 1:
        rows.append(_weight_row("drpo", n, repeat, losses_np.THREADS, "numpy_weight_threaded", ""))
    return rows


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
