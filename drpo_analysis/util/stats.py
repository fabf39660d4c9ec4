"""Statistics for every empirical verdict: intervals, paired differences, multiplicity control.

Pure functions of arrays (no files, no plotting), used by the simulators' summaries, the RL
reports, the figures and the audit, so that one verdict rule means one computation everywhere.

* :func:`bootstrap_ci` / :func:`mean_ci`: the mean with a confidence interval (percentile or BCa
  bootstrap via ``scipy.stats.bootstrap``, or Student's t).
* :func:`paired_differences`: per-seed differences of two configurations (same seed = same
  prompt stream), the unit of every paired comparison.
* :func:`holm`: Holm's step-down adjustment of a family of p-values.
* :func:`t_test_pvalue` and :func:`tost`: a two-sided one-sample t test and the two one-sided
  tests of equivalence within ``±margin``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

CONFIDENCE = 0.95


def bootstrap_ci(x, *, axis: int = -1, confidence: float = CONFIDENCE, seed: int = 0,
                 n_resamples: int = 2000, method: str = "percentile"):
    """Mean and bootstrap interval of the mean over ``axis`` (one vectorised
    ``scipy.stats.bootstrap`` call); with one sample or no spread the interval is the mean.

    Returns ``(mean, low, high)`` arrays with ``axis`` removed.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis)
    if x.shape[axis] < 2:
        return mean, mean.copy(), mean.copy()
    flat = np.ptp(x, axis=axis) == 0       # no spread: scipy may return NaN; the CI is the value
    r = stats.bootstrap((x,), np.mean, axis=axis, vectorized=True, confidence_level=confidence,
                        method=method, n_resamples=n_resamples,
                        random_state=np.random.default_rng(seed))
    lo, hi = r.confidence_interval.low, r.confidence_interval.high
    return mean, np.where(flat, mean, lo), np.where(flat, mean, hi)


def t_ci(x, *, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean of the 1-D sample ``x`` with Student's t interval (n − 1 degrees of freedom)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean()) if x.size else float("nan")
    if x.size < 2 or np.ptp(x) == 0:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def mean_ci(x, *, method: str = "t", confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean of the 1-D sample ``x`` with a ``method`` interval: ``"t"``, ``"bca"`` or
    ``"percentile"`` (bootstrap)."""
    if method == "t":
        return t_ci(x, confidence=confidence)
    if method not in ("bca", "percentile"):
        raise ValueError(f"interval method must be t, bca or percentile, got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.size and np.ptp(x) == 0:
        return float(x[0]), float(x[0]), float(x[0])
    m, lo, hi = bootstrap_ci(x, axis=0, confidence=confidence, method=method.upper()
                             if method == "bca" else method)
    return float(m), float(lo), float(hi)


def paired_differences(a: Mapping, b: Mapping) -> np.ndarray:
    """``a[k] − b[k]`` over the keys (seeds) both mappings hold, in key order."""
    common = sorted(set(a) & set(b))
    return np.asarray([a[k] - b[k] for k in common], dtype=np.float64)


def t_test_pvalue(d, *, null: float = 0.0, alternative: str = "two-sided") -> float:
    """One-sample t test of ``mean(d) = null`` against ``alternative`` (``"two-sided"``,
    ``"greater"``: mean > null, ``"less"``); without spread the p-value is 0 or 1 by the sign, and
    1.0 when it cannot be computed (fewer than two values)."""
    from scipy import stats

    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be two-sided, greater or less, got {alternative!r}")
    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return 1.0
    if np.ptp(d) == 0:
        m = float(d[0])
        hit = {"two-sided": m != null, "greater": m > null, "less": m < null}[alternative]
        return 0.0 if hit else 1.0
    return float(stats.ttest_1samp(d, null, alternative=alternative).pvalue)


def tost(d, margin: float, *, alpha: float = 0.05) -> tuple[float, bool]:
    """Two one-sided t tests that ``|mean(d)| < margin``; returns ``(p, equivalent)`` where
    ``p`` is the larger one-sided p-value and ``equivalent`` is ``p < alpha``."""
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return 1.0, False
    if np.ptp(d) == 0:
        p = 0.0 if abs(float(d[0])) < margin else 1.0
        return p, p < alpha
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    p = float(max(lower, upper))
    return p, p < alpha


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in input order."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    m = p.size
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


# ---------------------------------------------------------------------------------------------
# μ buckets: decade-like bins of the behaviour probability μ of a token, shared by the real-model
# measurements (drpo_analysis.lm) and the log diagnosis (drpo_analysis.diagnose).
# ---------------------------------------------------------------------------------------------

MU_EDGES = (0.0, 1e-3, 1e-2, 1e-1, 0.5, 0.9, 1.0)
MU_LABELS = ("mu<=1e-3", "1e-3<mu<=1e-2", "1e-2<mu<=0.1", "0.1<mu<=0.5", "0.5<mu<=0.9", "mu>0.9")


def mu_bucket(mu) -> np.ndarray:
    """Bucket index 0..5 of each μ (intervals ``(lo, hi]`` of ``MU_EDGES``; μ = 0 → bucket 0)."""
    return np.searchsorted(np.asarray(MU_EDGES[1:-1]), np.asarray(mu, dtype=np.float64), side="left")


def bucket_means(bucket: np.ndarray, values: Mapping[str, np.ndarray], n_buckets: int = len(MU_LABELS)):
    """Per-bucket count and mean of each named column: ``(counts [n], {name: means [n]})`` with NaN
    for empty buckets. bucket: [N] ints in [0, n); values: name → [N] floats (streamable: combine
    the sums of several calls with :func:`bucket_sums`)."""
    counts, sums = bucket_sums(bucket, values, n_buckets)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, {k: s / counts for k, s in sums.items()}


def bucket_sums(bucket: np.ndarray, values: Mapping[str, np.ndarray], n_buckets: int = len(MU_LABELS)):
    """Per-bucket counts [n] and sums {name: [n]} (``np.bincount``; add the results of chunks)."""
    b = np.asarray(bucket, dtype=np.int64)
    counts = np.bincount(b, minlength=n_buckets)
    return counts, {k: np.bincount(b, weights=np.asarray(v, np.float64), minlength=n_buckets)
                    for k, v in values.items()}
