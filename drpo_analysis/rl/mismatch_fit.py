"""Fit the RL harness to a real model's measurements: the sampler's mismatch and the task's tail.

A measurement file (``paper_repro/real_model/mismatch.json``, produced on a real LLM by comparing a
low-precision sampler with the fp32 policy at identical weights) gives, per μ bucket of sampled
tokens, the typical ``|π − μ|`` for each sampler precision, and the shares of sampled tokens with
``μ ≤ 0.01`` and ``μ ≤ 0.1``. :func:`load_measurement` reads it into :class:`Measurement`.

**Mismatch model.** The tiny policy's own bf16 rounding is not the real model's (different widths,
depths and logit scales), so the sampler instead adds Gaussian noise to its fp32 logits whose scale
depends on the token's probability under the unperturbed sampler,

    z̃_j = z_j + σ · max(p_j, 10⁻⁶)^β · ε_j,   ε_j ~ N(0, 1) i.i.d.,   p = softmax(z),   β ∈ [−0.25, 0.5],

(``noise=σ+noise_pow=β`` in the mismatch grammar; β = 0 is plain logit noise). For a rare token
``Δ_j ≈ p_j · σ p_j^β · ε_j``, so σ sets the level of ``|π − μ|`` and β its slope in μ.
:func:`fit_noise` chooses (σ, β) to minimise the squared log-ratio between the model's per-bucket
statistic and the measured one, evaluated on the policy's own logits at the positions it samples
(each position's whole vocabulary weighted by μ_j, the probability that token j is the one
sampled, with fixed noise draws so the objective is smooth). The fit is then *checked* by sampling
with the fitted sampler (:func:`drpo_analysis.rl.experiments.precision_scatter`).

**Tail.** :func:`fit_tail` chooses the number of free-form tokens and the Zipf exponent of
:mod:`drpo_analysis.rl.tasks` so that the sampled-token shares with μ ≤ 0.01 and μ ≤ 0.1 match
the measured ones; the warm-started model's real shares are measured afterwards.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

MU_EDGES = (0.0, 1e-3, 1e-2, 1e-1, 0.5, 1.0)  # μ bucket edges of every per-bucket statistic
TAIL_THRESHOLDS = (0.01, 0.1)


def bucket_names(edges=MU_EDGES) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]


@dataclass(frozen=True)
class Measurement:
    """Per-μ-bucket |π − μ| per precision, and sampled-token tail shares, of one real model."""
    source: str
    edges: tuple                     # bucket edges, len = buckets + 1
    abs_shift: dict                  # precision -> [per-bucket statistic or None]
    statistic: str                   # "mean" or "median" (of |π − μ| within a bucket)
    shares: dict = field(default_factory=dict)  # "mu<=0.01", "mu<=0.1" -> share of sampled tokens
    model: str = ""


PRECISION_ALIASES = {"fp8-e4m3": "fp8", "fp8_e4m3": "fp8"}  # real-model names → this harness's
MIN_TOKENS = 10  # a sampled-token bucket with fewer tokens is not used in the fit


def _edges_of(labels: list[str]) -> tuple:
    """Bucket edges from labels such as ``mu<=1e-3``, ``1e-3<mu<=1e-2``, ``mu>0.9`` (the upper
    edge follows the last ``<=``; the last bucket ends at 1)."""
    return (0.0, *(float(lab.rsplit("<=", 1)[1]) if "<=" in lab else 1.0 for lab in labels))


def load_measurement(path) -> Measurement:
    """Read the real-model summary of ``drpo-analysis rollouts --summary``: ``{"model", "precisions":
    {name: {"share_mu_le_0.01", "share_mu_le_0.1", "sampled": [{"bucket", "tokens",
    "mean_abs_pi_minus_mu", ...}, ...]}}}``. The fit uses the sampled-token bucket means (buckets with
    fewer than ``MIN_TOKENS`` tokens count as unmeasured) and the shares averaged over precisions."""
    d = json.loads(Path(path).read_text())
    precs = d["precisions"]
    first = next(iter(precs.values()))
    edges = _edges_of([b["bucket"] for b in first["sampled"]])
    shift = {PRECISION_ALIASES.get(p, p): [b["mean_abs_pi_minus_mu"] if (b.get("tokens") or 0) >= MIN_TOKENS else None
                                           for b in v["sampled"]] for p, v in precs.items()}
    shares = {f"mu<={x:g}": float(np.mean([v[f"share_mu_le_{x:g}"] for v in precs.values()])) for x in TAIL_THRESHOLDS}
    return Measurement(str(path), edges, shift, "mean", shares, d.get("model", ""))


# ---- the sampler's mismatch ------------------------------------------------------------------------
P_FLOOR = 1e-6  # p^β is evaluated at max(p, P_FLOOR): no unbounded noise on vanishing tokens
BETA_RANGE = (-0.25, 0.5)


def perturb_logits(z: torch.Tensor, sigma: float, beta: float, eps: torch.Tensor) -> torch.Tensor:
    """``z + σ · max(p, 10⁻⁶)^β · ε`` with ``p = softmax(z)`` (the fitted mismatch), z, eps: [..., V]."""
    if beta == 0:
        return z + sigma * eps
    logp = torch.log_softmax(z, dim=-1).clamp(min=math.log(P_FLOOR))
    return z + sigma * (beta * logp).exp() * eps


def bucket_stat(pi: torch.Tensor, mu: torch.Tensor, weight: torch.Tensor, edges=MU_EDGES,
                statistic: str = "mean") -> list[float | None]:
    """Per-μ-bucket weighted mean (or median) of |π − μ| over entries with weight, [N] each."""
    d = (pi - mu).abs().double().flatten()
    mu, w = mu.double().flatten(), weight.double().flatten()
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (mu >= lo) & ((mu < hi) if hi < edges[-1] else (mu <= hi)) & (w > 0)
        if float(w[sel].sum()) == 0:
            out.append(None)
            continue
        ds, ws = d[sel], w[sel]
        if statistic == "mean":
            out.append(float((ds * ws).sum() / ws.sum()))
        else:  # weighted median
            order = torch.argsort(ds)
            cw = torch.cumsum(ws[order], 0)
            out.append(float(ds[order][int(torch.searchsorted(cw, cw[-1] / 2))]))
    return out


def model_bucket_stat(logits: torch.Tensor, sigma: float, beta: float, eps: torch.Tensor, *,
                      edges=MU_EDGES, statistic="mean") -> list[float | None]:
    """The per-bucket |π − μ| a (σ, β) sampler produces at these positions: logits [N, V] are the
    fp32 policy's (π = softmax), every vocabulary entry j weighted by μ_j (its sampling probability)."""
    pi = torch.softmax(logits, -1)
    mu = torch.softmax(perturb_logits(logits, sigma, beta, eps), -1)
    return bucket_stat(pi, mu, mu, edges, statistic)


def fit_noise(logits: torch.Tensor, target: list, *, edges=MU_EDGES, statistic="mean", seed=0,
              min_count_weight: float = 1e-9) -> dict:
    """Least-squares fit of (log σ, β) to ``log target`` over the buckets with a measurement.

    Returns ``{"sigma", "beta", "model": [...], "target": [...], "log_ratio_max"}``."""
    from scipy.optimize import minimize

    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(logits.shape, generator=g, dtype=logits.dtype)
    use = [i for i, t in enumerate(target) if t is not None and t > 0]
    if len(use) < 2:
        raise ValueError("need a measured |π − μ| in at least two μ buckets to fit σ and β")

    def loss(x):
        m = model_bucket_stat(logits, math.exp(x[0]), float(x[1]), eps, edges=edges, statistic=statistic)
        r = [math.log(max(m[i], 1e-30) / target[i]) if m[i] is not None else 10.0 for i in use]
        return float(np.mean(np.square(r)))

    best = min(((math.log(s), b) for s in (1e-3, 1e-2, 1e-1, 1.0) for b in (-0.2, 0.0, 0.25, 0.5)),
               key=loss)
    res = minimize(loss, np.asarray(best), method="Nelder-Mead", bounds=[(math.log(1e-5), math.log(10.0)), BETA_RANGE],
                   options={"xatol": 1e-2, "fatol": 1e-5, "maxiter": 80})
    sigma, beta = math.exp(res.x[0]), float(res.x[1])
    model = model_bucket_stat(logits, sigma, beta, eps, edges=edges, statistic=statistic)
    ratios = [model[i] / target[i] for i in use if model[i]]
    return {"sigma": sigma, "beta": beta, "model": model, "target": list(target),
            "log_ratio_max": float(max(abs(math.log(r)) for r in ratios)) if ratios else None}


def noise_spec(sigma: float, beta: float) -> str:
    """The mismatch-grammar parts of a fitted sampler (rounded to 3 significant digits)."""
    return f"noise={sigma:.3g}" + (f"+noise_pow={beta:.3g}" if round(beta, 3) else "")


# ---- the task's tail -------------------------------------------------------------------------------
TAIL_TOLERANCE = math.log(1.25)  # predicted shares within 25% of the measured ones count as a match


def fit_tail(shares: dict, *, n_words: int, answer_tokens: int, max_free: int = 12,
             s_grid=np.round(np.arange(0.8, 2.51, 0.05), 2)) -> dict:
    """Free-form length and Zipf exponent whose predicted sampled-token shares (μ ≤ 0.01, μ ≤ 0.1)
    match the measured ones: the *shortest* free-form length whose best exponent predicts both
    shares within 25% (``TAIL_TOLERANCE``; shorter responses train faster), else the closest fit in
    max |log ratio|. Prediction: a share ``free / (free + answer_tokens)`` of sampled tokens are Zipf
    words (the answer tokens are assumed confident)."""
    from drpo_analysis.rl.tasks import tail_shares

    t = [shares[f"mu<={x:g}"] for x in TAIL_THRESHOLDS]
    per_free = []
    for free in range(1, max_free + 1):
        frac = free / (free + answer_tokens)
        best = None
        for s in s_grid:
            pred = [frac * x for x in tail_shares(n_words, float(s), TAIL_THRESHOLDS)]
            err = max(abs(math.log(max(p, 1e-12) / q)) for p, q in zip(pred, t))
            if best is None or err < best["log_ratio_max"] - 1e-12:
                best = {"free": free, "zipf_s": float(s), "predicted": pred, "target": t, "log_ratio_max": err}
        per_free.append(best)
    within = [b for b in per_free if b["log_ratio_max"] <= TAIL_TOLERANCE]
    return within[0] if within else min(per_free, key=lambda b: b["log_ratio_max"])


def sampled_tail_shares(mu: np.ndarray) -> dict:
    """Shares of sampled tokens with μ ≤ 0.01 and μ ≤ 0.1 (mu: the sampled tokens' μ, [N])."""
    mu = np.asarray(mu, float)
    return {f"mu<={x:g}": float((mu <= x).mean()) if mu.size else float("nan") for x in TAIL_THRESHOLDS}
