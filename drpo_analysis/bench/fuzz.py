"""Fuzz benchmarks (group "fuzz"): oracle token-checks/s on 1M tokens against one np.exp pass,
fuzz examples/s end to end, and the speedup over torch.autograd.gradcheck on the same function."""
from __future__ import annotations

import time

import numpy as np

from drpo_analysis.bench.timing import benchmark, best_time, exp_floor, measure


@benchmark("fuzz_oracle_token_checks", group="fuzz")
def oracle_throughput(*, quick=False):
    from drpo_analysis.fuzz import oracle, strategies
    n = 1 << (18 if quick else 20)
    rng = np.random.default_rng(0)
    b = strategies.sample_batch(rng, batch=n // 1024, length=1024, adv_per="token")
    exp = oracle.expected("drpo", {}, b, oracle.Conventions(), dtype="float64")
    got = exp.grad.copy()
    t = best_time(lambda: oracle.compare(oracle.expected("drpo", {}, b, oracle.Conventions(), dtype="float64"),
                                         b.mask, got, exp.value, "float64"), repeat=2 if quick else 3)
    n_valid = int(b.mask.sum())
    rate = n_valid / t
    return [measure("fuzz_oracle_token_checks", rate, "token-checks/s", exp_floor(np.ones(n)), ">= 0.00045",
                    detail=f"numpy oracle (reference gradient + value + aggregation weights + compare) on "
                           f"{n_valid} valid of {n} tokens, float64; target >= 1e6/s = 4.5e-4 of the np.exp "
                           f"floor (2.2e9/s on the dev machine)")]


@benchmark("fuzz_examples_per_s", group="fuzz")
def examples_per_second(*, quick=False):
    from drpo_analysis.fuzz import fuzz, mutants
    from drpo_analysis.fuzz.adapters import plain
    t = plain.target(mutants.correct("drpo"), method="drpo")
    t0 = time.perf_counter()
    rep = fuzz(t, seed=0, examples=4 if quick else 24)
    dt = time.perf_counter() - t0
    n = sum(c["examples"] for c in rep.checks)
    # floor: the same number of bare calls of the target (forward + backward), no oracle
    from drpo_analysis.fuzz.strategies import sample_batch
    from drpo_analysis.fuzz.targets import call
    b = sample_batch(np.random.default_rng(0), batch=6, length=12)
    t1 = time.perf_counter()
    for _ in range(n):
        call(t, b)
    bare = n / (time.perf_counter() - t1)
    return [measure("fuzz_examples_per_s", n / dt, "examples/s", bare, ">= 0.05",
                    detail=f"full fuzz of the DRPO torch face ({n} examples, {dt:.2f} s); floor = bare target calls/s")]


@benchmark("fuzz_vs_gradcheck", group="fuzz")
def versus_gradcheck(*, quick=False):
    import torch

    from drpo_analysis.core import losses_torch
    from drpo_analysis.fuzz import oracle, strategies
    from drpo_analysis.fuzz.targets import Target, call
    n_rows = 4 if quick else 16
    b = strategies.sample_batch(np.random.default_rng(1), batch=n_rows, length=64, adv_per="token")
    b = b.replace(logp=np.clip(b.logp, b.logp_mu - 2, b.logp_mu + 2))   # keep finite differences meaningful
    fn = lambda lp, lm, a, m: losses_torch.policy_loss("drpo", lp, lm, a, m)  # noqa: E731
    t = Target("drpo", fn, "drpo", {}, call_params={})
    lp = torch.tensor(b.logp, requires_grad=True)
    args = (torch.tensor(b.logp_mu), torch.tensor(b.adv), torch.tensor(b.mask))
    t_gc = best_time(lambda: torch.autograd.gradcheck(lambda x: fn(x, *args), (lp,), eps=1e-6, atol=1e-5,
                                                              raise_exception=False),
                     repeat=1)
    t_or = best_time(lambda: oracle.compare(oracle.expected("drpo", {}, b, oracle.Conventions(), dtype="float64"),
                                            b.mask, call(t, b, "float64").grad, None, "float64"), repeat=3)
    return [measure("fuzz_vs_gradcheck", t_gc / t_or, "x speedup", 1.0, ">= 10",
                    detail=f"{b.logp.size} tokens float64: gradcheck {t_gc:.3f} s vs oracle+autograd {t_or:.4f} s")]
