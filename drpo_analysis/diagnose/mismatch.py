"""Training–inference mismatch of logged rollouts by μ bucket (streaming sums).

Per sampled token (μ = exp(rollout_log_probs), π = exp(old_log_probs), r = π/μ):

* KL(μ‖π) estimators from samples of μ (Schulman 2020, "Approximating KL divergence"):
  ``k1 = −log r``, ``k2 = ½ (log r)²``, ``k3 = r − 1 − log r``;
* ``χ²`` term ``(r − 1)²`` (its mean estimates χ²(π‖μ)); ``|π − μ|`` (DPPO's Binary TV,
  arXiv:2602.04879 eq. 11), ``|r − 1|`` and the largest r;
* with ``exact_*`` columns: exact TV, KL(μ‖π), KL(π‖μ) over the vocabulary; with top-K columns:
  DPPO's Binary KL (eq. 12) and Top-K TV/KL (§4.2, top-K(μ) ∪ {sampled} ∪ {rest}) and how far
  each approximation lies below the exact value (never above, by the data-processing inequality,
  up to the float32 precision of the logs: :data:`VIOLATION_TOL`).
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.core import divergences
from drpo_analysis.util import stats

ESTIMATORS = ("k1", "k2", "k3", "chi2", "abs_diff", "abs_r1")
APPROX = (("binary_tv", "exact_tv"), ("binary_kl", "exact_kl"), ("topk_tv", "exact_tv"), ("topk_kl", "exact_kl"))
# A violation of approximation ≤ exact counts beyond this absolute margin: float32 log-probs
# log p = z − logsumexp(z) carry the rounding of the log-normaliser (ulp 1.9e-6 at |logsumexp| ≈ 20),
# so p = exp(log p) is only known to a relative ~2e-6, and a gap of that size is the logs' precision.
VIOLATION_TOL = 1e-5


def token_columns(block: dict, ok: np.ndarray, topk: dict | None) -> dict[str, np.ndarray]:
    """Per-token quantities [N] of the tokens selected by ``ok`` [b, T]; ``topk``: the block's
    :func:`topk_block` (computed once per block by the caller, None without top-K columns)."""
    lmu = np.asarray(block["rollout_log_probs"], np.float64)[ok]
    lpi = np.asarray(block["old_log_probs"], np.float64)[ok]
    log_r = lpi - lmu
    with np.errstate(over="ignore"):
        r = np.exp(log_r)
    mu, pi = np.exp(lmu), np.exp(lpi)
    out = {"mu": mu, "pi": pi, "r": r, "k1": -log_r, "k2": 0.5 * log_r ** 2, "k3": np.expm1(log_r) - log_r,
           "chi2": np.expm1(log_r) ** 2, "abs_diff": np.abs(pi - mu), "abs_r1": np.abs(np.expm1(log_r))}
    for c in ("exact_tv", "exact_kl", "exact_kl_reverse"):
        if c in block:
            out[c] = np.asarray(block[c], np.float64)[ok]
    out["binary_tv"] = out["abs_diff"]
    out["binary_kl"] = divergences.binary_kl_log(lmu, lpi)
    if topk is not None:
        cols = {k: v[ok] for k, v in topk.items()}                                     # [N, K+1]
        # −inf − −inf and log 0 in the discarded branches of 0·log 0 warn; topk_divergence masks them out
        with np.errstate(invalid="ignore", divide="ignore"):
            out["topk_kl"] = divergences.topk_divergence(cols["topk_logp_mu"], cols["topk_logp"], "kl", check=False)
        out["topk_tv"] = divergences.topk_divergence(cols["topk_logp_mu"], cols["topk_logp"], "tv", check=False)
    return out


def topk_block(block: dict) -> dict | None:
    """Top-K columns [b, T, K+1] of top-K(μ) ∪ {sampled}: the logged top-K, then the sampled token
    with −inf when it is already among them (DPPO §4.2; as ``core.divergences.topk_columns``).
    None when the file lacks the columns."""
    need = ("rollout_topk_ids", "rollout_topk_log_probs", "old_topk_log_probs", "responses")
    if not all(c in block for c in need):
        return None
    ids = np.asarray(block["rollout_topk_ids"])                                       # [b, T, K]
    inside = (ids == np.asarray(block["responses"])[..., None]).any(-1)                 # [b, T]
    out = {}
    for name, col, sampled in (("topk_logp_mu", "rollout_topk_log_probs", "rollout_log_probs"),
                               ("topk_logp", "old_topk_log_probs", "old_log_probs")):
        s = np.where(inside, -np.inf, np.asarray(block[sampled], np.float64))
        out[name] = np.concatenate([np.asarray(block[col], np.float64), s[..., None]], -1)
    return out


class Mismatch:
    """Streaming per-bucket sums of the estimators, exact divergences and approximation gaps."""

    def __init__(self):
        n = len(stats.MU_LABELS)
        self.counts = np.zeros(n, np.int64)
        self.sums: dict[str, np.ndarray] = {}
        self.max_r = np.full(n, -np.inf)
        self.violations = {a: 0 for a, _ in APPROX}
        self.share_mu_le = {"0.01": 0, "0.1": 0}

    def update(self, cols: dict[str, np.ndarray]) -> None:
        b = stats.mu_bucket(cols["mu"])
        values = {k: cols[k] for k in ESTIMATORS}
        for k in ("exact_tv", "exact_kl", "exact_kl_reverse", "binary_tv", "binary_kl", "topk_tv", "topk_kl"):
            if k in cols:
                values[k] = cols[k]
        for a, e in APPROX:
            if a in cols and e in cols:
                gap = cols[e] - cols[a]
                values[f"gap_{a}"] = gap
                self.violations[a] += int((gap < -VIOLATION_TOL).sum())
        counts, sums = stats.bucket_sums(b, values)
        self.counts += counts
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        np.maximum.at(self.max_r, b, cols["r"])
        self.share_mu_le["0.01"] += int((cols["mu"] <= 0.01).sum())
        self.share_mu_le["0.1"] += int((cols["mu"] <= 0.1).sum())

    def buckets(self) -> list[dict]:
        rows = []
        for i, label in enumerate(stats.MU_LABELS):
            n = int(self.counts[i])
            row = {"bucket": label, "tokens": n}
            for k, s in self.sums.items():
                row[f"mean_{k}"] = float(s[i] / n) if n else None
            row["max_r"] = float(self.max_r[i]) if n else None
            rows.append(row)
        return rows

    def totals(self) -> dict:
        n = int(self.counts.sum())
        out = {"tokens": n, **{f"mean_{k}": float(s.sum() / n) if n else None for k, s in self.sums.items()},
               "max_r": float(self.max_r.max()) if n else None,
               "share_mu_le_0.01": self.share_mu_le["0.01"] / n if n else None,
               "share_mu_le_0.1": self.share_mu_le["0.1"] / n if n else None}
        out["approx_above_exact"] = {a: v for a, v in self.violations.items() if f"gap_{a}" in self.sums}
        return out
