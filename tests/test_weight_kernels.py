"""The fast weight kernels (lambdified simplified weight, chunked, threaded) equal the raw
derivation ``(∂J/∂ℓ)/(Â r)`` of every method, and the chunking/threading changes no bit."""
import numpy as np
import pytest

from drpo_analysis.core import losses_np, methods, symbolic

from strategies_util import random_inputs

NON_DEFAULT = {"drpo": {"delta": 0.15}, "spo": {"eps": 0.2}, "ppo_clip": {"eps_low": 0.1, "eps_high": 0.1},
               "mask_drpo": {"delta": 0.2, "delta_mask": 0.1}, "cispo": {"clip_max": 1.5, "clip_min": 0.5},
               "dppo_binary_tv": {"delta_low": 0.1, "delta_high": 0.3}}


def _raw_weight(name, ell, ell_mu, adv, extras, params):
    """Reference: lambdify of the unsimplified (∂J/∂ℓ)/(Â r), evaluated on the whole array."""
    m = methods.get(name)
    p = m.resolve_params(params)
    comp = symbolic.compiled(name, tuple(sorted(p.items())))
    xs = m.argument_values(extras)
    with np.errstate(all="ignore"):
        return np.broadcast_to(comp.weight(ell, ell_mu, adv, *xs), ell.shape)


@pytest.mark.parametrize("name", methods.names())
def test_fast_weight_equals_raw_derivation(name):
    rng = np.random.default_rng(11)
    ell, ell_mu, adv, extras = random_inputs(name, rng, n=4000, log_mu_low=-20.0)
    ell[:50] = ell_mu[:50]            # on-policy tokens: r = 1 exactly
    ell[50:60] = 0.0                  # π = 1
    for params in ({}, NON_DEFAULT.get(name, {})):
        got = losses_np.gradient_weight(name, ell, ell_mu, adv, params=params, extras=extras)
        want = _raw_weight(name, ell, ell_mu, adv, extras, params)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["drpo", "ppo_clip", "pg_is", "dppo_topk_tv"])
def test_weight_is_nan_where_advantage_is_zero(name):
    rng = np.random.default_rng(3)
    ell, ell_mu, adv, extras = random_inputs(name, rng, n=64)
    adv[::3] = 0.0
    w = losses_np.gradient_weight(name, ell, ell_mu, adv, extras=extras)
    assert np.isnan(w[::3]).all() and np.isfinite(np.delete(w, np.s_[::3])).all()


def test_chunking_changes_no_bit(monkeypatch):
    rng = np.random.default_rng(5)
    ell, ell_mu, adv, extras = random_inputs("dppo_topk_kl", rng, n=3 * 1024 + 17)
    ref = losses_np.gradient_weight("dppo_topk_kl", ell, ell_mu, adv, extras=extras)
    for chunk in (1000, 7):
        monkeypatch.setattr(losses_np, "CHUNK", chunk)
        got = losses_np.gradient_weight("dppo_topk_kl", ell, ell_mu, adv, extras=extras)
        assert np.array_equal(got, ref, equal_nan=True)


def test_bad_value_in_a_later_chunk_is_reported(monkeypatch):
    monkeypatch.setattr(losses_np, "CHUNK", 16)
    ell = np.full(200, -1.0)
    ell[177] = np.nan
    with pytest.raises(ValueError, match="ell contains NaN"):
        losses_np.gradient_weight("drpo", ell, np.full(200, -1.0), np.ones(200))


def test_out_buffer_is_filled_in_place_and_validated():
    rng = np.random.default_rng(8)
    ell, ell_mu, adv, extras = random_inputs("drpo", rng, n=20000)
    out = np.empty_like(ell)
    got = losses_np.gradient_weight("drpo", ell, ell_mu, adv, out=out)
    assert got.base is out or got is out
    assert np.array_equal(out, losses_np.gradient_weight("drpo", ell, ell_mu, adv))
    with pytest.raises(ValueError, match="out must have shape"):
        losses_np.gradient("drpo", ell, ell_mu, adv, out=np.empty(3))
    with pytest.raises(TypeError, match="out must be"):
        losses_np.gradient("drpo", ell, ell_mu, adv, out=np.empty(ell.shape, dtype=np.float32))


@pytest.mark.parametrize("name", methods.names())
def test_where_printing_equals_lambdify_select(name):
    """The shipped kernel (Piecewise as nested numpy.where) and plain lambdify (numpy.select) of
    the same simplified expression agree bit for bit, NaN included."""
    import sympy as sp

    rng = np.random.default_rng(4)
    ell, ell_mu, adv, extras = random_inputs(name, rng, n=3000)
    args = [ell, ell_mu, adv, *methods.get(name).argument_values(extras)]
    syms, w = symbolic.simplified_weight(name)
    with np.errstate(all="ignore"):
        got = np.broadcast_to(symbolic.lambdify_where(syms, w)(*args), ell.shape)
        want = np.broadcast_to(sp.lambdify(syms, w, modules="numpy", cse=True)(*args), ell.shape)
    assert np.array_equal(got, want, equal_nan=True)
