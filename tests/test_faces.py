"""The three faces of every method agree: SymPy-derived gradient (numpy), objective value
(numpy), and torch autograd of the per-token loss."""
import numpy as np
import pytest
import torch

from drpo_analysis.core import losses_np, losses_torch, methods

from strategies_util import random_inputs


@pytest.mark.parametrize("name", methods.names())
def test_torch_autograd_matches_derived_gradient(name):
    rng = np.random.default_rng(123)
    ell, ell_mu, adv, extras = random_inputs(name, rng)
    g_ref = losses_np.gradient(name, ell, ell_mu, adv, extras=extras)
    lt = torch.tensor(ell, requires_grad=True)
    loss = losses_torch.per_token_loss(name, lt, torch.tensor(ell_mu), torch.tensor(adv),
                                       extras={k: torch.tensor(v) for k, v in extras.items()})
    loss.sum().backward()
    np.testing.assert_allclose(-lt.grad.numpy(), g_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(-loss.detach().numpy(),
                               losses_np.objective(name, ell, ell_mu, adv, extras=extras),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", methods.names())
def test_weight_times_adv_ratio_is_gradient(name):
    rng = np.random.default_rng(7)
    ell, ell_mu, adv, extras = random_inputs(name, rng)
    g = losses_np.gradient(name, ell, ell_mu, adv, extras=extras)
    w = losses_np.gradient_weight(name, ell, ell_mu, adv, extras=extras)
    np.testing.assert_allclose(adv * np.exp(ell - ell_mu) * w, g, rtol=1e-9, atol=1e-12)


def test_drpo_hand_example():
    # μ = 0.5, π = 0.6, Â = +1, δ = 0.2: w = 1 − Δ/δ = 1 − 0.1/0.2 = 0.5.
    w = losses_np.gradient_weight("drpo", np.log(0.6), np.log(0.5), 1.0, params={"delta": 0.2})
    assert w == pytest.approx(0.5, rel=1e-12)
    # beyond the boundary the weight turns corrective: Δ = 0.3 > δ ⇒ w = −0.5.
    w = losses_np.gradient_weight("drpo", np.log(0.8), np.log(0.5), 1.0, params={"delta": 0.2})
    assert w == pytest.approx(-0.5, rel=1e-12)


def test_ppo_clip_hand_example():
    # r = 1.5 > 1.28 with Â > 0: clipped (w = 0); with Â < 0 it is not clipped (w = 1).
    args = (np.log(0.75), np.log(0.5))
    assert losses_np.gradient_weight("ppo_clip", *args, 1.0) == 0.0
    assert losses_np.gradient_weight("ppo_clip", *args, -1.0) == 1.0
    # dual-clip: Â < 0 and r = 4 > c = 3: flat.
    assert losses_np.gradient_weight("dual_clip", np.log(0.8), np.log(0.2), -1.0) == 0.0


def test_masked_positions_never_nan():
    lt = torch.tensor([[-0.5, -float("inf"), float("nan")]], requires_grad=True)
    mu = torch.tensor([[-0.7, 0.0, -1e4]])
    adv = torch.tensor([[1.0, 1e4, -1.0]])
    mask = torch.tensor([[True, False, False]])
    for name in ("drpo", "ppo_clip", "dppo_binary_kl", "spo", "pg_kl"):
        lt.grad = None
        loss = losses_torch.policy_loss(name, lt, mu, adv, mask, agg="token-mean")
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(lt.grad).all()
        assert (lt.grad[0, 1:] == 0).all()
