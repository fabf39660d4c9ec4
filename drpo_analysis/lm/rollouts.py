"""Rollouts of the real model: batches of project tasks, generated under an inference
configuration and scored under fp32, until a token budget is met; plus the mismatch summary by
μ bucket (sampled tokens, and every vocabulary entry) that ``paper_repro/real_model/`` records.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from drpo_analysis.core.advantages import group_advantages
from drpo_analysis.lm import precision, scoring, tasks
from drpo_analysis.util import io, stats

STATE = "state.pt"   # in the parts folder: settings, finished batches, generator state, vocabulary sums


def generate(lm, cfg: scoring.InferenceConfig, *, tokens: int, batch: int = 8, group: int = 4,
             seed: int = 0, topk: int = 20, device: str = "cpu", progress: bool = True,
             parts: Path | None = None):
    """Rollouts until ``tokens`` response tokens are collected (whole batches).

    Each batch holds ``batch // group`` tasks × ``group`` samples; advantages are GRPO's
    group-normalised rewards (``core.advantages.group_advantages``, std-normalised), broadcast
    over each response's tokens. Returns (arrays {name: [N, T] ...}, VocabStats).

    With ``parts`` (a folder), every finished batch is written there with the sampler's random
    state and the running vocabulary sums, and a later call with the same settings continues after
    the last finished batch: an interrupted run loses at most the batch in progress, and the
    result is identical to an uninterrupted run's. Other settings are refused (ValueError).
    """
    import torch
    if batch % group:
        raise ValueError(f"batch ({batch}) must be a multiple of group ({group})")
    settings = run_settings(cfg, tokens=tokens, batch=batch, group=group, seed=seed, topk=topk, device=device)
    state = resume_state(parts, settings) if parts is not None else None
    base = lm.model.to(device)
    inf_model = precision.inference_model(base, cfg.precision)
    gen = torch.Generator(device=device).manual_seed(seed)
    vocab = scoring.VocabStats()
    done, b, chunks = 0, 0, []
    if state is not None:
        gen.set_state(state["generator"])
        vocab = scoring.VocabStats(**state["vocab"])
        done, b = state["done"], state["batches"]
        chunks = []
        for i in range(b):
            with np.load(_part(parts, i)) as part:
                chunks.append(dict(part))
    bar = tqdm(total=tokens, initial=min(done, tokens), desc=f"rollouts {cfg.precision}", unit="tok",
               disable=not progress)
    while done < tokens:
        drawn = tasks.make_tasks(batch // group, seed=seed * 100_003 + b)
        out = scoring.rollout_batch(base, inf_model, lm.tokenizer, [t for t in drawn for _ in range(group)],
                                    cfg, generator=gen, topk=topk, vocab=vocab)
        adv = group_advantages(out.pop("rewards").reshape(-1, group), std_normalize=True).reshape(-1)
        chunks.append(_pad(out, cfg.max_new_tokens, adv))
        n = int(out["response_mask"].sum())
        done += n
        b += 1
        if parts is not None:
            _save_part(parts, b, chunks[-1], dict(settings=settings, batches=b, done=done,
                                                   generator=gen.get_state(), vocab=asdict(vocab)))
        bar.update(n)
    bar.close()
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    return arrays, vocab


def run_settings(cfg: scoring.InferenceConfig, **kw) -> dict:
    """What a resumed run must share with the interrupted one."""
    return {**{f"inference.{k}": v for k, v in asdict(cfg).items()}, **kw}


def _part(parts: Path, i: int) -> Path:
    return Path(parts) / f"batch_{i:05d}.npz"


def resume_state(parts: Path, settings: dict) -> dict | None:
    """The state recorded in ``parts`` (None when there is none); a ValueError naming each setting
    that differs from the recorded one."""
    path = Path(parts) / STATE
    if not path.exists():
        return None
    import torch
    state = torch.load(path, weights_only=False)
    diff = [f"{k}={state['settings'].get(k)!r} (asked {v!r})" for k, v in settings.items()
            if state["settings"].get(k) != v]
    if diff:
        raise ValueError(f"{parts}: an interrupted run with other settings is there ({', '.join(diff)}); "
                         f"rerun with them, or remove the folder")
    return state


def _save_part(parts: Path, b: int, chunk: dict, state: dict) -> None:
    """Batch ``b − 1``'s arrays, then the state that counts it (both atomic: a crash between the two
    leaves a part the state does not count, which the resumed run writes again)."""
    import torch
    io.ensure_dir(parts)
    with io.atomic_open(_part(parts, b - 1), "wb") as f:
        np.savez(f, **chunk)
    with io.atomic_open(Path(parts) / STATE, "wb") as f:
        torch.save(state, f)


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
