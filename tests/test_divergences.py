"""Full-vocabulary divergences: agreement with a float64 reference, lower bounds, memory, errors."""
import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drpo_analysis.core import divergences as D


def _ref(za, zb):
    return D.reference_divergences(D.softmax64(za), D.softmax64(zb))


logits = st.integers(2, 40).flatmap(lambda V: st.tuples(*[hnp.arrays(
    np.float64, (3, V), elements=st.floats(-30, 30, allow_nan=False))] * 2))


@given(logits)
def test_float64_matches_reference(pair):
    za, zb = pair
    got, ref = D.full_divergences(za, zb), _ref(za, zb)
    for k in D.FULL_KINDS:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_float32_full_vocabulary_bf16_matches_reference():
    rng = np.random.default_rng(0)
    za = (3 * rng.standard_normal((4, 151_936))).astype(np.float32)
    zb = za.astype(ml_dtypes.bfloat16).astype(np.float32)
    got, ref = D.full_divergences(za, zb), _ref(za, zb)
    np.testing.assert_allclose(got["tv"], ref["tv"], rtol=1e-5, atol=1e-8)
    for k in ("kl_mu_pi", "kl_pi_mu"):   # KL ~ 1e-4 here; float32 exp bounds the error ~1e-8
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-3, atol=5e-8, err_msg=k)


def test_identical_logits_give_zero_and_known_example():
    z = np.log(np.array([[0.5, 0.25, 0.25]]))
    d = D.full_divergences(z, z)
    assert all(float(d[k][0]) == pytest.approx(0.0, abs=1e-15) for k in D.FULL_KINDS)
    d = D.full_divergences(np.log([[0.5, 0.5]]), np.log([[0.9, 0.1]]))
    assert d["tv"][0] == pytest.approx(0.4)
    assert d["kl_mu_pi"][0] == pytest.approx(0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1))


def test_leading_axes_are_kept():
    z = np.random.default_rng(1).standard_normal((2, 3, 7))
    d = D.full_divergences(z, z[::-1])
    assert d["tv"].shape == (2, 3)


# Log-probabilities carry 1 − p only to relative precision eps / (1 − p), which the binary KL
# of a dominant token needs; logits within ±10 keep 1 − p ≥ 1e-9 (error ≤ 1e-7 relative).
moderate = st.integers(2, 40).flatmap(lambda V: st.tuples(*[hnp.arrays(
    np.float64, (3, V), elements=st.floats(-10, 10, allow_nan=False))] * 2))


@given(moderate, st.integers(1, 5))
def test_binary_and_topk_never_exceed_exact(pair, k):
    za, zb = pair
    V = za.shape[1]
    k = min(k, V - 1)
    lm, lp = np.log(D.softmax64(za)), np.log(D.softmax64(zb))
    tok = np.random.default_rng(0).integers(0, V, size=(3, 4))
    ex = D.full_divergences(za, zb)
    ap = D.sampled_approximations(lm, lp, tok, k=k)
    tol = 1e-10
    assert np.all(ap["binary_tv"] <= ex["tv"][:, None] + tol)
    assert np.all(ap["topk_tv"] <= ex["tv"][:, None] + tol)
    kl = ex["kl_mu_pi"][:, None]
    assert np.all(ap["binary_kl"] <= kl * (1 + 1e-7) + tol)
    assert np.all(ap["topk_kl"] <= kl * (1 + 1e-7) + tol)
    # A finer partition is closer: Top-K (which contains the sampled token) ≥ Binary.
    assert np.all(ap["topk_tv"] >= ap["binary_tv"] - tol)


def test_topk_covering_the_vocabulary_is_exact():
    rng = np.random.default_rng(2)
    za, zb = rng.standard_normal((2, 6)), rng.standard_normal((2, 6))
    lm, lp = np.log(D.softmax64(za)), np.log(D.softmax64(zb))
    ap = D.sampled_approximations(lm, lp, np.zeros((2, 1), np.int64), k=5)
    ex = D.full_divergences(za, zb)
    np.testing.assert_allclose(ap["topk_tv"][:, 0], ex["tv"], rtol=1e-12)
    np.testing.assert_allclose(ap["topk_kl"][:, 0], ex["kl_mu_pi"], rtol=1e-9)


def test_extra_memory_is_bounded_by_a_few_rows():
    rng = np.random.default_rng(3)
    za = rng.standard_normal((48, 151_936), dtype=np.float32)
    zb = za + np.float32(0.01)
    tracemalloc.start()
    D.full_divergences(za, zb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * 151_936 * 4 + 64 * 1024   # three [V] buffers + outputs, never [T, V]


@pytest.mark.parametrize("bad, match", [
    (np.array([[0.0, np.nan]]), "logits_mu row 0"),
    (np.array([[0.0, np.inf]]), "logits_mu row 0"),
])
def test_non_finite_logits_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        D.full_divergences(bad, np.zeros((1, 2)))


def test_minus_inf_logits_raise_naming_both():
    with pytest.raises(ValueError, match="logits_mu/logits_pi row 0"):
        D.full_divergences(np.zeros((1, 2)), np.array([[0.0, -np.inf]]))


def test_shape_and_type_errors():
    with pytest.raises(ValueError, match="shape mismatch"):
        D.full_divergences(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="V >= 2"):
        D.full_divergences(np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(TypeError, match="logits_pi"):
        D.full_divergences(np.zeros((1, 2)), "x")


@pytest.mark.parametrize("p, match", [
    ([[0.5, 0.6]], "sum to 1"), ([[1.5, -0.5]], "negative"), ([[np.nan, 1.0]], "NaN"),
])
def test_invalid_distributions_raise(p, match):
    with pytest.raises(ValueError, match=match):
        D.reference_divergences([[0.5, 0.5]], p)
    with pytest.raises(ValueError, match="mu"):
        D.reference_divergences(p, [[0.5, 0.5]])


def test_sampled_approximation_argument_errors():
    lm = np.log(np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match="tokens must lie"):
        D.sampled_approximations(lm, lm, np.array([[4], [0]]))
    with pytest.raises(ValueError, match="k must be"):
        D.sampled_approximations(lm, lm, np.zeros((2, 1), np.int64), k=4)


def test_binary_kl_log_matches_binary_kl_and_stays_precise_near_one():
    mu, pi = np.array([0.3, 0.01]), np.array([0.5, 0.02])
    np.testing.assert_allclose(D.binary_kl_log(np.log(mu), np.log(pi)), D.binary_kl(mu, pi), rtol=1e-12)
    # π = 1 − 1e-13: KL = ½ log(½/π) + ½ log(½/(1 − π)), with 1 − π exact from log π.
    lp = np.log1p(-1e-13)
    exact = 0.5 * np.log(0.5 / (1 - 1e-13)) + 0.5 * np.log(0.5 / 1e-13)
    assert D.binary_kl_log(np.log(0.5), lp) == pytest.approx(exact, rel=1e-10)


def test_binary_forms_unchanged():
    assert D.binary_tv(0.2, 0.5) == pytest.approx(0.3)
    assert D.binary_kl(np.array(0.5), np.array(0.5)) == pytest.approx(0.0)
