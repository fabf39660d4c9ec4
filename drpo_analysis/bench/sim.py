"""Simulation benchmarks (group ``sim``): every row is a ratio measured in this process.

* ``sim_divergence_full``: exact TV + KL(μ‖π) + KL(π‖μ) (:func:`divergences.full_divergences`)
  of a [4096, 151936] float32 logit pair, in logits per second (both arrays' elements), against
  the floor of one ``np.exp`` pass over the same two arrays (block-wise into a reused buffer);
  target ≥ 0.35.
* ``sim_divergence_peak_mem``: tracemalloc peak of the same call (MB) against the 64 MB budget;
  the naive float64 path (softmax of both arrays, then the reference) is measured on 32 rows and
  its extrapolation to all rows is reported beside it.
* ``sim_dynamics``: softmax-policy dynamics at V = 151,936 (DRPO, 16 contexts × 8 samples,
  4 updates per rollout): logit entries updated per second against one ``np.exp`` pass over
  the [contexts, V] logits; token updates per second in the detail.
* ``sim_vocab_1m`` / ``sim_vocab_1m_budget``: ``simulate vocab`` statistics (bf16 mismatch,
  exact divergences, per-bucket table; no Top-K gaps) for 1,048,576 sampled tokens at
  V = 151,936: the np.exp time of the same [4096, V] logits over the run time, and the run time
  against its 30 s budget.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np

from drpo_analysis.bench import timing as bench

from drpo_analysis.core import divergences

V = 151_936
BLOCK = 64


def _logit_pair(T: int, seed: int = 0):
    """Two [T, V] float32 logit arrays: Gaussian logits and their bf16 rounding (block-wise)."""
    import ml_dtypes

    rng = np.random.default_rng(seed)
    a = np.empty((T, V), np.float32)
    b = np.empty((T, V), np.float32)
    for i in range(0, T, BLOCK):
        blk = a[i:i + BLOCK]
        rng.standard_normal(blk.shape, dtype=np.float32, out=blk)
        blk *= np.float32(3.0)
        b[i:i + BLOCK] = blk.astype(ml_dtypes.bfloat16)
    return a, b


def _exp_rate(*arrays, repeat: int = 3) -> float:
    """Elements per second of one np.exp pass over ``arrays``, 64-row blocks into one buffer."""
    out = np.empty((BLOCK, arrays[0].shape[1]), arrays[0].dtype)

    def once():
        for x in arrays:
            for i in range(0, x.shape[0], BLOCK):
                blk = x[i:i + BLOCK]
                np.exp(blk, out=out[:blk.shape[0]])
    n = sum(x.size for x in arrays)
    return n / bench.best_time(once, repeat=repeat)


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


@bench.benchmark("sim_divergence_full", group="sim")
def divergence_full(*, quick: bool = False) -> list[bench.Measurement]:
    T = 128 if quick else 4096
    a, b = _logit_pair(T)
    repeat = 2 if quick else 3
    floor = _exp_rate(a, b, repeat=repeat)
    t = bench.best_time(lambda: divergences.full_divergences(a, b), repeat=repeat)
    peak = _peak_mb(lambda: divergences.full_divergences(a, b))
    n_naive = 32
    naive = _peak_mb(lambda: divergences.reference_divergences(divergences.softmax64(a[:n_naive]),
                                                               divergences.softmax64(b[:n_naive])))
    return [
        bench.measure("sim_divergence_full", 2 * a.size / t, "logits/s", floor, ">= 0.35",
                      detail=f"[{T}, {V}] float32 pair (bf16 mismatch), TV + both KLs; floor = "
                             "np.exp over both arrays"),
        bench.measure("sim_divergence_peak_mem", peak, "MB", 64.0, ">= 1.0", higher_is_better=False,
                      detail=f"tracemalloc peak, budget 64 MB; naive float64 path: {naive:.0f} MB "
                             f"for {n_naive} rows, ≈ {naive * T / n_naive / 1024:.1f} GB for {T}"),
    ]


@bench.benchmark("sim_dynamics", group="sim")
def dynamics(*, quick: bool = False) -> list[bench.Measurement]:
    from drpo_analysis.sim import dynamics as sd
    from drpo_analysis.sim.vocab import Vocabulary

    s = sd.DynamicsSettings(methods=("drpo",), seeds=1, prompts=4, length=4, group=8,
                            vocab=Vocabulary(V=V), steps=2 if quick else 8, updates=4,
                            mismatch="bf16")
    sd.run(sd.DynamicsSettings(**{**s.__dict__, "steps": 1}))    # compile the kernel outside
    t0 = time.perf_counter()
    res = sd.run(s)
    t = time.perf_counter() - t0
    C = s.contexts
    logits = np.random.default_rng(0).standard_normal((C, V), dtype=np.float32)
    floor = _exp_rate(logits)
    entries = s.steps * s.updates * C * V
    return [bench.measure("sim_dynamics", entries / t, "logit updates/s", floor, ">= 0.05",
                          detail=f"{res['token_updates'] / t:.3g} token updates/s; {C} contexts x "
                                 f"{s.group} samples, {s.updates} updates/rollout, V={V}, bf16")]


@bench.benchmark("sim_vocab_1m", group="sim")
def vocab_1m(*, quick: bool = False) -> list[bench.Measurement]:
    from drpo_analysis.sim import vocab as sv

    contexts, samples = (256, 256) if quick else (4096, 256)
    settings = sv.VocabSettings(contexts=contexts, samples=samples, mismatches=("bf16",),
                                approximations=False, keep_scatter=1000)
    sv.simulate(sv.VocabSettings(contexts=2, samples=2, mismatches=("bf16",)))   # warm kernels
    t0 = time.perf_counter()
    res = sv.simulate(settings)
    t = time.perf_counter() - t0
    z = sv.context_logits(settings.vocab, np.random.default_rng(0), BLOCK)
    exp_time = contexts * V / _exp_rate(z)
    n = res["results"][0]["n_tokens"]
    budget = 30.0 * n / 2 ** 20
    return [
        bench.measure("sim_vocab_1m", t, "s", exp_time, ">= 0.02", higher_is_better=False,
                      detail=f"{n} tokens, {contexts} contexts x {samples}, V={V}, bf16; floor = "
                             "one np.exp pass over the [contexts, V] logits"),
        bench.measure("sim_vocab_1m_budget", t, "s", budget, ">= 1.0", higher_is_better=False,
                      detail=f"budget {budget:.1f} s (30 s per 2^20 tokens)"),
    ]
