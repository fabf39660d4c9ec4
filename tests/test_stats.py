"""util.stats against independent computations: t and BCa intervals, one-sided t tests, Holm, TOST."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from drpo_analysis.util import stats


def test_t_interval_matches_scipy_t_interval():
    x = np.array([0.12, 0.31, 0.05, 0.22, 0.18])
    m, lo, hi = stats.mean_ci(x, method="t")
    ref = sps.t.interval(0.95, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    assert m == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(ref)


def test_bca_interval_contains_the_mean_and_differs_from_percentile_on_skewed_data():
    x = np.random.default_rng(0).exponential(size=40)
    m, lo, hi = stats.mean_ci(x, method="bca")
    _, plo, phi = stats.mean_ci(x, method="percentile")
    assert lo < m < hi and (lo, hi) != (plo, phi)
    with pytest.raises(ValueError, match="interval method"):
        stats.mean_ci(x, method="wald")


def test_one_sided_t_test_halves_the_two_sided_p_in_the_direction_of_the_mean():
    d = np.array([0.3, 0.1, 0.25, 0.4])
    two = stats.t_test_pvalue(d)
    assert stats.t_test_pvalue(d, alternative="greater") == pytest.approx(two / 2)
    assert stats.t_test_pvalue(d, alternative="less") == pytest.approx(1 - two / 2)
    assert stats.t_test_pvalue([0.2], alternative="greater") == 1.0  # one value: no test
    assert stats.t_test_pvalue([0.2, 0.2], alternative="greater") == 0.0
    assert stats.t_test_pvalue([0.2, 0.2], alternative="less") == 1.0


def test_holm_on_a_textbook_family():
    # p sorted 0.01, 0.02, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.06 (monotone), 0.06
    assert stats.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_controls_the_familywise_error_under_the_null():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=(4000, 5))
    fwer = np.mean([min(stats.holm(row)) < 0.05 for row in p])
    assert fwer < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)


def test_tost_declares_equivalence_only_inside_the_margin():
    rng = np.random.default_rng(2)
    inside = rng.normal(0.0, 0.01, size=20)
    p, eq = stats.tost(inside, 0.03)
    assert eq and p < 0.05
    p_out, eq_out = stats.tost(inside + 0.05, 0.03)
    assert not eq_out and p_out > 0.5
    # the larger of the two one-sided p-values, each an ordinary one-sided t test
    lo = sps.ttest_1samp(inside, -0.03, alternative="greater").pvalue
    hi = sps.ttest_1samp(inside, 0.03, alternative="less").pvalue
    assert p == pytest.approx(max(lo, hi))
    assert stats.tost([0.01], 0.03) == (1.0, False)
