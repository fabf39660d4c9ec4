"""Group-relative advantages (GRPO; Dr. GRPO without the std): hand examples, both std
conventions against torch.std, explicit eps, degenerate groups."""
import numpy as np
import pytest
import torch

from drpo_analysis.core.advantages import group_advantages

R = np.array([[1.0, 0.0, 0.0, 1.0],
              [1.0, 0.0, 0.0, 0.0]])


def test_centred_only_is_the_drpo_papers_convention():
    np.testing.assert_array_equal(group_advantages(R), [[0.5, -0.5, -0.5, 0.5], [0.75, -0.25, -0.25, -0.25]])


def test_population_std_hand_example():
    # group 0: std (ddof=0) = 0.5 → ±0.5 / (0.5 + eps)
    a = group_advantages(R, std_normalize=True, eps=1e-6)
    np.testing.assert_allclose(a[0], np.array([1, -1, -1, 1]) * 0.5 / (0.5 + 1e-6), rtol=1e-15)
    # group 1: std = sqrt(3)/4
    np.testing.assert_allclose(a[1], np.array([0.75, -0.25, -0.25, -0.25]) / (np.sqrt(3) / 4 + 1e-6), rtol=1e-14)


@pytest.mark.parametrize("ddof,unbiased", [(0, False), (1, True)])
def test_std_conventions_match_torch(ddof, unbiased):
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 8))
    t = torch.tensor(r)
    want = (t - t.mean(1, keepdim=True)) / (t.std(1, keepdim=True, unbiased=unbiased) + 1e-4)
    np.testing.assert_allclose(group_advantages(r, std_normalize=True, eps=1e-4, ddof=ddof), want.numpy(),
                               rtol=1e-12)


def test_identical_rewards_give_zero_even_without_eps():
    a = group_advantages([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]], std_normalize=True, eps=0.0)
    np.testing.assert_array_equal(a[0], 0.0)
    assert np.isfinite(a).all()


def test_groups_are_independent():
    a = group_advantages(R, std_normalize=True)
    np.testing.assert_array_equal(a[1:], group_advantages(R[1:], std_normalize=True))


@pytest.mark.parametrize("kwargs,match", [
    (dict(rewards=[1.0, 0.0]), "2-D"),
    (dict(rewards=np.zeros((2, 0))), "n >= 1"),
    (dict(rewards=[[1.0]], std_normalize=True, ddof=1), "at least 2 samples"),
    (dict(rewards=[[np.nan, 1.0]]), "rewards contains NaN"),
    (dict(rewards=[[1e200, 1.0]]), "rewards must be <= 1e"),
    (dict(rewards=R, ddof=2), "ddof"),
    (dict(rewards=R, eps=-1.0), "eps"),
    (dict(rewards=R, std_normalize="yes"), "std_normalize"),
    (dict(rewards="1,0"), "rewards"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        group_advantages(kwargs.pop("rewards"), **kwargs)
