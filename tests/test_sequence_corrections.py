"""Sequence-level rollout corrections (``core/methods/rollout_correction.py``) on hand-made batches
whose sequences sit just inside and just outside every threshold: the oracle's reference, the torch
face (autograd) and the SymPy-derived weight all equal the frameworks' closed form per token, the
padding never enters a sequence statistic, and the fuzzer tells a correct outside implementation
from a per-token / one-sided / mean-for-sum bug on exactly these rows."""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from drpo_analysis.core import losses_np, losses_torch, methods
from drpo_analysis.core.methods.base import BatchInputs, build_extras
from drpo_analysis.fuzz import Batch, adapters, check_batch, oracle

CORPUS = Path(__file__).parent / "corpus"
BASE = np.array([0.3, -0.1, 0.2, 0.15, -0.05])   # the pattern of token log-ratios a row is a multiple of
T, PAD = len(BASE), 2                             # the last row has its last PAD positions padded
EPS = 2e-3                                        # distance of a row's statistic from a threshold


def k2(lr):
    return lr * lr / 2


def k3(lr):
    return np.expm1(lr) - lr


@dataclass(frozen=True)
class Case:
    """A method, its parameters, the per-row statistic (of the row's valid log-ratios), the
    thresholds on it, and the closed form ``∂J/∂ℓ / Â`` per token from the statistic and log r."""

    method: str
    params: dict
    stat: Callable          # [n] log-ratios -> float
    thresholds: tuple
    weight: Callable        # (stat, log r of the token) -> multiplier of Â


def band(stat, lo, hi):
    return float(lo <= stat <= hi)


LOG_BAND = (math.log(0.5), math.log(2.0))
CASES = [
    Case("tis_seq", {"clip_min": 0.5, "clip_max": 2.0}, np.sum, LOG_BAND,
         lambda s, lr: min(max(math.exp(s), 0.5), 2.0)),
    Case("masked_is_seq", {"clip_min": 0.5, "clip_max": 2.0}, np.sum, LOG_BAND,
         lambda s, lr: math.exp(s) * band(s, *LOG_BAND)),
    Case("tis_seq_geo", {"clip_min": 0.5, "clip_max": 2.0}, np.mean, LOG_BAND,
         lambda s, lr: min(max(math.exp(s), 0.5), 2.0)),
    Case("masked_is_seq_geo", {"clip_min": 0.5, "clip_max": 2.0}, np.mean, LOG_BAND,
         lambda s, lr: math.exp(s) * band(s, *LOG_BAND)),
    Case("geo_seq_mask", {"clip_min": 0.5, "clip_max": 2.0}, np.mean, LOG_BAND,
         lambda s, lr: math.exp(lr) * band(s, *LOG_BAND)),
    # verl: k1 = −log r, kept iff log lower ≤ stat ≤ log upper
    Case("rs_seq_sum_k1", {"lower": 0.5, "upper": 2.0}, lambda lr: np.sum(-lr), LOG_BAND,
         lambda s, lr: math.exp(lr) * band(s, *LOG_BAND)),
    Case("rs_seq_mean_k1", {"lower": 0.5, "upper": 2.0}, lambda lr: np.mean(-lr), LOG_BAND,
         lambda s, lr: math.exp(lr) * band(s, *LOG_BAND)),
    *[Case(f"rs_seq_{how}_{name}", {"delta": 0.1}, lambda lr, r=reduce, k=k: r(k(lr)), (0.1,),
           lambda s, lr: math.exp(lr) * float(s <= 0.1))
      for how, reduce in (("sum", np.sum), ("mean", np.mean), ("max", np.max))
      for name, k in (("k2", k2), ("k3", k3)) if not (how == "max" and name == "k1")],
]


def _scale_for(case: Case, target: float, n: int) -> float:
    """s with ``stat(s · BASE[:n]) = target`` (linear statistics directly, the rest by bisection
    on s ≥ 0, where every k2 / k3 statistic increases)."""
    base = BASE[:n]
    one = case.stat(base)
    if case.stat(2 * base) == pytest.approx(2 * one):
        return target / one
    lo, hi = 0.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if case.stat(mid * base) < target else (lo, mid)
    return (lo + hi) / 2


def handmade_batch(case: Case) -> tuple[Batch, np.ndarray]:
    """Rows whose statistic is EPS inside and EPS outside every threshold, plus a padded row whose
    padding holds finite garbage; returns the batch and each row's statistic."""
    targets = [t + d for t in case.thresholds for d in (-EPS, EPS)]
    rows, stats = [], []
    for target in targets:
        lr = _scale_for(case, target, T) * BASE
        rows.append((lr, np.ones(T, bool)))
        stats.append(case.stat(lr))
    lr = _scale_for(case, targets[0], T - PAD) * BASE[:T - PAD]       # the padded row: inside the first
    rows.append((np.concatenate([lr, [-2.9] * PAD]), np.arange(T) < T - PAD))
    stats.append(case.stat(lr))
    log_ratio = np.stack([r for r, _ in rows])                          # [B, T]
    mask = np.stack([m for _, m in rows])                               # [B, T]
    logp_mu = np.full(mask.shape, -4.0)
    adv = np.repeat(np.where(np.arange(len(rows)) % 2 == 0, 1.0, -0.7)[:, None], T, 1)
    batch = Batch(logp_mu + log_ratio, logp_mu, adv, mask, np.arange(len(rows)))
    np.testing.assert_allclose([case.stat(lr[m]) for lr, m in zip(log_ratio, mask)], stats, atol=1e-9)
    return batch, np.array(stats)


def closed_form(case: Case, batch: Batch, stats) -> np.ndarray:
    """[B, T] ∂J/∂ℓ per token from the frameworks' definition (0 at padding)."""
    lr = batch.logp - batch.logp_mu
    w = np.array([[case.weight(s, lr[b, t]) if batch.mask[b, t] else 0.0 for t in range(T)]
                  for b, s in enumerate(stats)])
    return w * batch.adv


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.method)
def test_reference_torch_face_and_derived_weight_match_the_closed_form(case):
    batch, stats = handmade_batch(case)
    want = closed_form(case, batch, stats)                              # [B, T]
    # each threshold is crossed: the rows just inside and just outside it get different weights
    for i in range(len(case.thresholds)):
        r_in, r_out = 2 * i, 2 * i + 1
        assert not np.allclose(want[r_in] / batch.adv[r_in], want[r_out] / batch.adv[r_out], rtol=1e-3)

    # the oracle's reference (token-sum: aggregation weight 1 per valid token)
    exp = oracle.expected(case.method, case.params, batch, oracle.Conventions(agg="token-sum"), dtype="float64")
    np.testing.assert_allclose(-exp.grad, want, rtol=1e-10, atol=1e-12)

    # the torch face, its extras built from the torch batch: autograd through the objective
    m = methods.get(case.method)
    lt = torch.tensor(batch.logp, requires_grad=True)
    mu_t, mask_t = torch.tensor(batch.logp_mu), torch.tensor(batch.mask)
    extras = build_extras(m, BatchInputs(lt.detach(), mu_t, mask_t))
    loss = losses_torch.per_token_loss(case.method, lt, mu_t, torch.tensor(batch.adv), mask=mask_t,
                                       params=case.params, extras=extras)
    loss.sum().backward()
    np.testing.assert_allclose(-lt.grad.numpy(), want, rtol=1e-10, atol=1e-12)

    # the SymPy-derived weight (∂J/∂ℓ = Â r w) on the valid tokens
    ex = {k: v.numpy()[batch.mask] for k, v in extras.items()}
    ell, ell_mu, adv = batch.logp[batch.mask], batch.logp_mu[batch.mask], batch.adv[batch.mask]
    w = losses_np.gradient_weight(case.method, ell, ell_mu, adv, params=case.params, extras=ex)
    np.testing.assert_allclose(adv * np.exp(ell - ell_mu) * w, want[batch.mask], rtol=1e-9, atol=1e-12)


def test_sequence_statistics_ignore_padding_and_are_zero_on_empty_rows():
    mask = np.array([[True, True, False], [False, False, False]])
    logp = np.array([[-1.0, -2.0, 0.0], [-1.0, -1.0, -1.0]])
    logp_mu = np.array([[-1.5, -1.0, -50.0], [-3.0, -3.0, -3.0]])
    for name in ("rs_seq_sum_k1", "rs_seq_sum_k3", "rs_seq_max_k2", "rs_seq_mean_k2"):
        m = methods.get(name)
        (e,) = m.extras
        np_val = e.build(np, BatchInputs(logp, logp_mu, mask))
        t_val = e.build(torch, BatchInputs(*(torch.tensor(a) for a in (logp, logp_mu, mask))))
        np.testing.assert_allclose(t_val.numpy(), np_val, rtol=1e-12)
        assert (np_val[1] == 0).all(), name                         # a row without valid tokens
        assert np_val[0, 0] == np_val[0, 2], name                   # broadcast over the row, padding included
    lr = np.array([0.5, -1.0])  # ℓ − ℓ_μ at the two valid tokens
    assert methods.get("rs_seq_sum_k1").extras[0].build(np, BatchInputs(logp, logp_mu, mask))[0, 0] == lr.sum()
    (k3_sum,) = methods.get("rs_seq_sum_k3").extras
    np.testing.assert_allclose(k3_sum.build(np, BatchInputs(logp, logp_mu, mask))[0, 0], k3(lr).sum())


def _fuzz_spec(path: Path) -> dict:
    """The corpus file's ``FUZZ = {...}`` literal."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FUZZ":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} has no FUZZ literal")


def _corpus_target(kind: str, name: str, params: dict):
    """A corpus file as the command line loads it (its ``--agg`` included)."""
    path = CORPUS / kind / f"{name}.py"
    spec = _fuzz_spec(path)
    args = spec["args"]
    opts = {"agg": args[args.index("--agg") + 1]} if "--agg" in args else {}
    return adapters.load(f"{path}:{spec['fn']}", adapter="plain", method=spec["method"], params=params, **opts)


@pytest.mark.parametrize("correct,bugs", [
    ("tis_seq_trl_truncate", ("tis_seq_mean_not_sum", "tis_seq_per_token_weight", "tis_seq_sum_over_padding")),
    ("masked_is_seq_log_space", ("masked_is_seq_token_mask", "masked_is_seq_token_ratio_weight",
                                 "masked_is_seq_clip_min_ignored")),
    ("rs_seq_sum_k1", ("rs_seq_sum_k1_upper_only",)),
    ("rs_seq_max_k3", ("rs_seq_max_k3_max_over_padding",)),
])
def test_oracle_separates_correct_from_buggy_on_the_threshold_rows(correct, bugs):
    """The outside corpus's correct implementation conforms on the hand-made rows; each mutant of
    it fails on them (the per-token, one-sided, mean-for-sum and padding bugs all change a row)."""
    case = next(c for c in CASES if c.method == _fuzz_spec(CORPUS / "correct" / f"{correct}.py")["method"])
    batch, _ = handmade_batch(case)
    # the padded row's garbage is finite here; make it a value no statistic can absorb
    batch = batch.replace(logp=np.where(batch.mask, batch.logp, -0.5))
    check_batch(_corpus_target("correct", correct, case.params), batch, dtype="float64")
    for bug in bugs:
        with pytest.raises(AssertionError, match="does not conform"):
            check_batch(_corpus_target("mutants", bug, case.params), batch, dtype="float64")


def test_one_sided_values_keep_a_divergence_statistic_in_its_bounds():
    """On-policy rows (statistic 0): the one-sided values shift the statistic by −h, which must
    stay ≥ 0 (a negative k3 statistic is not an admissible input) when a wrong gradient is judged."""
    logp = np.full((2, 3), -1.0)
    batch = Batch(logp, logp.copy(), np.ones((2, 3)), np.ones((2, 3), bool), np.arange(2))
    exp = oracle.expected("rs_seq_max_k3", {}, batch, oracle.Conventions(agg="token-sum"), dtype="float32")
    np.testing.assert_allclose(-exp.grad, 1.0)                       # kept: r = 1, Â = 1
    wrong = oracle.compare(exp, batch.mask, np.zeros((2, 3)), None, "float32")
    assert wrong is not None and wrong.what == "gradient"


@pytest.mark.parametrize("name", ["tis_seq", "rs_seq_max_k3"])
def test_simulator_and_rl_trainer_run_a_sequence_correction(name, tmp_path):
    from rl_util import smoke_rows

    from drpo_analysis.sim import dynamics

    out = dynamics.run(dynamics.DynamicsSettings(methods=(name,), seeds=1, prompts=2, length=3, group=4, steps=2))
    assert np.isfinite(np.asarray(out["history"]["reward"])).all()
    rows = smoke_rows(name, tmp_path)
    assert [r["step"] for r in rows] == [0, 1] and all(r.get("finite", True) for r in rows)


def test_declared_clamp_bounds_each_token_inside_the_statistics_when_told():
    """verl's rollout_rs clamps every token's log-ratio to ±20 before the k1 sum: a row with
    log-ratios (25, −19, −1) sums to 0 clamped (kept) but to 5 unclamped (rejected)."""
    lr = np.array([[25.0, -19.0, -1.0]])
    batch = Batch(-30.0 + lr, np.full((1, 3), -30.0), np.ones((1, 3)), np.ones((1, 3), bool), np.arange(1))
    clamp = dict(agg="token-sum", log_ratio_clamp=(-20.0, 20.0))
    kept = oracle.expected("rs_seq_sum_k1", {}, batch, oracle.Conventions(**clamp, statistics_clamp=(-20.0, 20.0)))
    dropped = oracle.expected("rs_seq_sum_k1", {}, batch, oracle.Conventions(**clamp))
    # kept: −r·Â inside the clamp, 0 beyond it (the clamped ratio is frozen); rejected: 0 everywhere
    np.testing.assert_allclose(-kept.grad, [[0.0, math.exp(-19.0), math.exp(-1.0)]], rtol=1e-12)
    assert (dropped.grad == 0).all()
