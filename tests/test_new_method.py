"""Adding a method is one definition in one file: a throwaway method, written in a temporary
module with a new parameter and a new extra input, goes through the derivation, both faces, the
fuzz oracle's kinks, the simulator and the RL loss with no other edit, and leaves no trace in the
registry."""
from __future__ import annotations

import importlib.util
import math
import textwrap
import uuid

import numpy as np
import pytest
import torch

from drpo_analysis.core import losses_np, losses_torch, methods, symbolic
from drpo_analysis.core.methods.base import BatchInputs, build_extras

# One file: a capped ratio (flat beyond r = τ, a kink the oracle must find from the Piecewise
# condition) plus a penalty pulling ℓ towards a new per-row extra, the row's mean ℓ_μ.
MODULE = '''
from drpo_analysis.core.methods.base import Extra, Method, Param


def row_mean_logp_mu(xp, b):
    """Mean ℓ_μ over the row's valid tokens, broadcast per token [B, T]."""
    total = xp.where(b.mask, b.logp_mu, 0.0).sum(-1)[..., None]
    return xp.broadcast_to(total / b.mask.sum(-1)[..., None].clip(min=1), b.mask.shape)


ROW_MEAN = Extra("row_mean_logp_mu", "mean log μ of the row", row_mean_logp_mu, symbol="m_mu")


def objective(x, p):
    capped = x.ops.where(x.r > p.tau, 0 * x.adv, x.r * x.adv)
    return capped - p.kappa * x.abs_adv * (x.ell - x.extra(ROW_MEAN)) ** 2 / 2


METHOD = Method(NAME, "throwaway", "capped ratio + row penalty", "a test", objective,
                params=(Param("tau", 1.5, "cap on r", low=1.0), Param("kappa", 0.1, "penalty", low=0.0)),
                extras=(ROW_MEAN,))
'''


@pytest.fixture
def toy(tmp_path):
    """The throwaway method, imported from its own file and registered for this test only."""
    name = f"toy_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "toy_method.py"
    path.write_text(f"NAME = {name!r}\n" + textwrap.dedent(MODULE))
    spec = importlib.util.spec_from_file_location("toy_method", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with methods.registered(module.METHOD) as m:
        yield m
    assert name not in methods.names()
    with pytest.raises(ValueError, match="unknown method"):
        methods.get(name)
    with pytest.raises(ValueError, match="removed before"):   # caches keyed by name stay valid
        methods.register(module.METHOD)


def _batch(rng, xp=np):
    B, T = 6, 5
    logp_mu = np.log(rng.uniform(0.05, 0.95, (B, T)))                 # [B, T]
    logp = np.minimum(logp_mu + rng.normal(0.0, 0.4, (B, T)), 0.0)     # [B, T]
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, (B, 1))      # [B, T]
    adv = np.repeat(rng.normal(0.0, 1.0, (B, 1)), T, 1)                # [B, T]
    return logp, logp_mu, mask, adv


def test_derivation_and_both_faces(toy):
    (sym,) = symbolic.extra_symbols(toy).values()
    g = symbolic.gradient(toy.name)
    assert sym in g.free_symbols and g.has(symbolic.ADV)
    w = symbolic.weight(toy.name)
    assert w.has(symbolic.PI) and w.has(symbolic.MU)

    rng = np.random.default_rng(0)
    logp, logp_mu, mask, adv = _batch(rng)
    ex_np = build_extras(toy, BatchInputs(logp, logp_mu, mask))
    t = {k: torch.tensor(v) for k, v in (("logp", logp), ("logp_mu", logp_mu), ("mask", mask))}
    ex_t = build_extras(toy, BatchInputs(t["logp"], t["logp_mu"], t["mask"]))
    np.testing.assert_allclose(ex_t["row_mean_logp_mu"].numpy(), ex_np["row_mean_logp_mu"], rtol=1e-12)

    sel = mask
    ell, ell_mu, a = logp[sel], logp_mu[sel], adv[sel]
    ex = {k: v[sel] for k, v in ex_np.items()}
    g_np = losses_np.gradient(toy.name, ell, ell_mu, a, extras=ex)
    lt = torch.tensor(logp, requires_grad=True)
    loss = losses_torch.per_token_loss(toy.name, lt, t["logp_mu"], torch.tensor(adv), mask=t["mask"],
                                       extras=ex_t)
    loss.sum().backward()
    np.testing.assert_allclose(-lt.grad.numpy()[sel], g_np, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(-loss.detach().numpy()[sel],
                               losses_np.objective(toy.name, ell, ell_mu, a, extras=ex), rtol=1e-12)
    # the weight kernel agrees with the gradient: ∂J/∂ℓ = Â r w
    w_np = losses_np.gradient_weight(toy.name, ell, ell_mu, a, extras=ex)
    np.testing.assert_allclose(a * np.exp(ell - ell_mu) * w_np, g_np, rtol=1e-9, atol=1e-12)
    # the cap is live in this sample: some tokens beyond r = τ, some below
    r = np.exp(ell - ell_mu)
    assert (r > 1.5).any() and (r < 1.5).any()


def test_oracle_finds_the_kink_from_the_piecewise_condition(toy):
    from drpo_analysis.fuzz import oracle

    assert [(k.kind, k.value) for k in oracle.kinks(toy.name)] == [("log_ratio", pytest.approx(math.log(1.5)))]
    assert [k.value for k in oracle.kinks(toy.name, {"tau": 2.0})] == [pytest.approx(math.log(2.0))]


def test_simulator_runs_it(toy):
    from drpo_analysis.sim import dynamics

    s = dynamics.DynamicsSettings(methods=(toy.name, f"{toy.name}:tau=1.2"), seeds=1, prompts=2,
                                  length=3, group=4, steps=2)
    out = dynamics.run(s)
    assert np.isfinite(np.asarray(out["history"]["reward"])).all()


def test_rl_loss_trains_it(toy, tmp_path):
    from rl_util import smoke_rows

    rows = smoke_rows(toy.name, tmp_path)
    assert [r["step"] for r in rows] == [0, 1] and all(r.get("finite", True) for r in rows)


def test_registry_refuses_a_reused_name():
    m = methods.get("pg_is")
    with pytest.raises(ValueError, match="already registered"):
        methods.register(m)
