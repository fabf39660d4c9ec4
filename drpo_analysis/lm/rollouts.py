"""Rollouts of the real model: batches of project tasks, generated under an inference
configuration and scored under fp32, until a token budget is met; plus the mismatch summary by
μ bucket (sampled tokens, and every vocabulary entry) that ``paper_repro/real_model/`` records.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
from tqdm import tqdm

from drpo_analysis.core.advantages import group_advantages
from drpo_analysis.lm import precision, scoring, tasks
from drpo_analysis.util import stats


def generate(lm, cfg: scoring.InferenceConfig, *, tokens: int, batch: int = 8, group: int = 4,
             seed: int = 0, topk: int = 20, device: str = "cpu", progress: bool = True):
    """Rollouts until ``tokens`` response tokens are collected (whole batches).

    Each batch holds ``batch // group`` tasks × ``group`` samples; advantages are GRPO's
    group-normalised rewards (``core.advantages.group_advantages``, std-normalised), broadcast
    over each response's tokens. Returns (arrays {name: [N, T] ...}, VocabStats).
    """
    import torch
    if batch % group:
        raise ValueError(f"batch ({batch}) must be a multiple of group ({group})")
    base = lm.model.to(device)
    inf_model = precision.inference_model(base, cfg.precision)
    gen = torch.Generator(device=device).manual_seed(seed)
    vocab = scoring.VocabStats()
    parts, done, b = [], 0, 0
    bar = tqdm(total=tokens, desc=f"rollouts {cfg.precision}", unit="tok", disable=not progress)
    while done < tokens:
        drawn = tasks.make_tasks(batch // group, seed=seed * 100_003 + b)
        out = scoring.rollout_batch(base, inf_model, lm.tokenizer, [t for t in drawn for _ in range(group)],
                                    cfg, generator=gen, topk=topk, vocab=vocab)
        adv = group_advantages(out.pop("rewards").reshape(-1, group), std_normalize=True).reshape(-1)
        parts.append(_pad(out, cfg.max_new_tokens, adv))
        n = int(out["response_mask"].sum())
        done += n
        b += 1
        bar.update(n)
    bar.close()
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return arrays, vocab


def _pad(out: dict, T: int, adv: np.ndarray) -> dict:
    """Pad the [B, t] arrays of one batch to [B, T] (mask 0, values 0) and add ``advantages``."""
    mask = out["response_mask"]
    t = mask.shape[1]
    res = {}
    for k, v in out.items():
        if v.ndim >= 2:
            pad = np.zeros((v.shape[0], T - t) + v.shape[2:], v.dtype)
            res[k] = np.concatenate([v, pad], 1)
    res["advantages"] = (adv[:, None] * res["response_mask"]).astype(np.float32)
    return res


def summary(arrays: dict, vocab: scoring.VocabStats, cfg: scoring.InferenceConfig) -> dict:
    """Mismatch of the sampled tokens by μ bucket, the sampled-μ shares, the vocabulary-level
    buckets and the exact divergences (means over tokens)."""
    m = arrays["response_mask"].astype(bool)
    lmu = arrays["rollout_log_probs"][m].astype(np.float64)
    lpi = arrays["old_log_probs"][m].astype(np.float64)
    mu, pi = np.exp(lmu), np.exp(lpi)
    r = np.exp(lpi - lmu)
    b = stats.mu_bucket(mu)
    diff, r1 = np.abs(pi - mu), np.abs(r - 1)
    counts, means = stats.bucket_means(b, {"abs_diff": diff, "abs_r1": r1})
    rows = []
    for k, label in enumerate(stats.MU_LABELS):
        sel = b == k
        n = int(counts[k])
        rows.append({"bucket": label, "tokens": n,
                     "mean_abs_pi_minus_mu": float(means["abs_diff"][k]) if n else None,
                     "median_abs_pi_minus_mu": float(np.median(diff[sel])) if n else None,
                     "mean_abs_r_minus_1": float(means["abs_r1"][k]) if n else None,
                     "median_abs_r_minus_1": float(np.median(r1[sel])) if n else None,
                     "max_r": float(r[sel].max()) if n else None})
    exact = {k: float(arrays[f"exact_{k}"][m].mean()) for k in ("tv", "kl", "kl_reverse")}
    return {"config": asdict(cfg), "tokens": int(m.sum()), "responses": int(m.shape[0]),
            "share_mu_le_0.01": float((mu <= 0.01).mean()), "share_mu_le_0.1": float((mu <= 0.1).mean()),
            "mean_abs_log_ratio": float(np.abs(lpi - lmu).mean()),
            "exact_mean": exact, "sampled": rows, "vocabulary": vocab.summary()}
