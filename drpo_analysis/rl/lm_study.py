"""A small GRPO study on a Hugging Face LM: the sampler's mismatch measured at identical weights,
then one run per *arm* (method × sampler mismatch) from the same starting weights and seed.

Each arm trains into ``<out>/runs/<arm id>/`` and is summarised into ``<out>/runs/<arm id>.json``
once finished; an arm with a summary is never re-run, and an arm stopped midway (kill, time
budget) resumes from its checkpoint, so the study is resumable as a whole.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from drpo_analysis.rl import lm_grpo
from drpo_analysis.rl.hf_policy import MISMATCH, LMSampler, generate, left_pad, response_logp
from drpo_analysis.rl.matrix import spec_id, write_json
from drpo_analysis.rl.trainer import MU_BUCKETS

CLIP_RATIO = (0.8, 1.28)  # PPO's default trust region on r = π/μ (ε_low = 0.2, ε_high = 0.28)
TV_DELTA = 0.15           # DPPO's default binary-TV threshold on |π − μ|


def bucket_table(mu: np.ndarray, pi: np.ndarray) -> list[dict]:
    """Per-μ-bucket statistics of sampled tokens: count, share, median / p99 / max |π − μ|, median
    |π/μ − 1|, and the shares outside PPO's ratio box and DPPO's TV threshold (both at π = μ's
    weights, i.e. masked by mismatch alone)."""
    rows = []
    for lo, hi in zip(MU_BUCKETS[:-1], MU_BUCKETS[1:]):
        sel = (mu >= lo) & ((mu < hi) if hi < 1 else (mu <= hi))
        d, r = np.abs(pi[sel] - mu[sel]), pi[sel] / mu[sel]
        any_ = bool(sel.any())
        rows.append({"bucket": f"{lo:g}-{hi:g}", "count": int(sel.sum()), "share": float(sel.mean()) if mu.size else 0.0,
                     "abs_shift_median": float(np.median(d)) if any_ else None,
                     "abs_shift_p99": float(np.quantile(d, 0.99)) if any_ else None,
                     "abs_shift_max": float(d.max()) if any_ else None,
                     "abs_ratio_minus_1_median": float(np.median(np.abs(r - 1))) if any_ else None,
                     "ppo_clip_outside": float(((r < CLIP_RATIO[0]) | (r > CLIP_RATIO[1])).mean()) if any_ else None,
                     "tv_outside": float((d > TV_DELTA).mean()) if any_ else None})
    return rows


@dataclasses.dataclass
class StudyConfig:
    """What a study adds to the run configuration shared by its arms."""

    arms: str = "drpo:bf16,ppo_clip:bf16,dppo_binary_tv:bf16"  # METHOD:MISMATCH,... one run each
    mismatch_prompts: int = 128            # prompts of the mismatch measurement at identical weights
    max_minutes_per_arm: float | None = None   # wall-time budget per arm (none: run to the last step)

    def validate(self) -> "StudyConfig":
        self.arm_list()
        if isinstance(self.mismatch_prompts, bool) or not isinstance(self.mismatch_prompts, int) \
                or self.mismatch_prompts < 1:
            raise ValueError(f"mismatch_prompts must be an integer >= 1, got {self.mismatch_prompts!r}")
        if self.max_minutes_per_arm is not None and not self.max_minutes_per_arm > 0:
            raise ValueError(f"max_minutes_per_arm must be > 0, got {self.max_minutes_per_arm!r}")
        return self

    def arm_list(self) -> list[dict]:
        """``[{"method": ..., "mismatch": ...}, ...]`` from :attr:`arms`."""
        arms = []
        for part in self.arms.split(","):
            method, sep, mismatch = part.partition(":")
            if not sep or not method or not mismatch:
                raise ValueError(f"arms expects METHOD:MISMATCH,..., got {part!r}")
            arms.append({"method": method, "mismatch": mismatch})
        return arms


@torch.no_grad()
def measure_mismatch(policy, tok, task, precision: str, *, prompts: int, max_new: int, seed: int, device,
                     batch: int = 64) -> dict:
    """Sample with a ``precision`` copy of ``policy`` and compare its μ with the fp32 policy's π of
    every sampled token (same weights: the pure training–inference mismatch, DPPO arXiv:2602.04879 Fig. 2)."""
    sampler = LMSampler(policy, precision)
    rng = np.random.default_rng(seed)
    mus, pis = [], []
    for i in range(0, prompts, batch):
        p, _ = task.sample(rng, min(batch, prompts - i))
        ids, pmask = left_pad([tok.encode(x) for x in p], tok.pad_id, device)
        ro = generate(sampler.model, ids, pmask, max_new, stop_ids=tok.stop_ids, pad_id=tok.pad_id, seed=seed + i)
        logp = response_logp(policy, ro)[0]
        mus.append(ro.logp_mu.exp()[ro.mask].double().cpu().numpy())
        pis.append(logp.exp()[ro.mask].double().cpu().numpy())
    mu, pi = np.concatenate(mus), np.concatenate(pis)
    return {"precision": precision, "tokens": int(mu.size), "share_mu_le_0.01": float((mu <= 0.01).mean()),
            "share_mu_le_0.1": float((mu <= 0.1).mean()), "buckets": bucket_table(mu, pi)}


def arm_id(arm: dict) -> str:
    return spec_id(arm["method"], arm.get("params"), sampler=arm["mismatch"])


def summarise(rows: list[dict], cfg: dict, status: dict, wall_s: float) -> dict:
    """One arm's record: curves, held-out accuracy at start and end, per-bucket shift means."""
    steps = [r for r in rows if "reward/mean" in r]
    evals = [r for r in rows if "eval/greedy_acc" in r]
    keys = ("reward/mean", "shift/mean_abs", "frac/masked", "entropy/mean", "response/length_mean")
    bucket_keys = sorted({k for r in steps for k in r if k.startswith("bucket/") and k.endswith("abs_shift/mean")})
    buckets = {k: float(np.mean(v)) if (v := [r[k] for r in steps if r.get(k) is not None]) else None
               for k in bucket_keys}
    masked = {k: float(np.mean(v)) if (v := [r[k] for r in steps if r.get(k) is not None]) else None
              for k in ("frac/masked", "frac/attenuated", "frac/amplified", "frac/reversed")}
    return {"config": cfg, "status": status["status"], "steps_done": status["step"], "wall_s": wall_s,
            "curves": {k: [r.get(k) for r in steps] for k in keys},
            "eval": {"step": [r["step"] for r in evals], "greedy_acc": [r["eval/greedy_acc"] for r in evals]},
            "mean_abs_shift_by_bucket": buckets, "mean_fractions": masked}


def run_study(base: lm_grpo.LMConfig, arms: list[dict], out, build, *,
              mismatch_prompts: int = StudyConfig.mismatch_prompts,
              measure=("bf16", "fp8"), max_seconds_per_run: float | None = None, progress=True) -> dict:
    """The mismatch measurement (once; the ``measure`` precisions and the arms') and every arm not
    finished yet; returns everything measured."""
    from tqdm import tqdm

    out = Path(out)
    mm_path = out / "mismatch.json"
    if not mm_path.exists():
        torch.manual_seed(base.seed)
        policy, tok = build()
        policy = policy.float().to(base.device).eval()
        task = base.text_task()
        mm = [measure_mismatch(policy, tok, task, p, prompts=mismatch_prompts, max_new=base.max_new_tokens,
                               seed=base.seed, device=base.device)
              for p in sorted({*measure, *(MISMATCH.parse(a["mismatch"]).precision for a in arms)} - {"none"})]
        write_json(mm_path, mm)
        del policy
    results = {}
    for arm in tqdm(arms, desc="study arms", disable=not progress):
        aid = arm_id(arm)
        summary_path = out / "runs" / f"{aid}.json"
        if not summary_path.exists():
            cfg = dataclasses.replace(base, method=arm["method"], params=dict(arm.get("params", {})),
                                      mismatch=arm["mismatch"])
            run_dir = out / "runs" / aid
            t0 = time.perf_counter()
            status = lm_grpo.run(cfg, run_dir, build, resume=run_dir.exists(), progress=progress,
                                 max_seconds=max_seconds_per_run)
            summary = {"id": aid, **summarise(lm_grpo.read_metrics(run_dir / "metrics.jsonl"), cfg.as_dict(),
                                               status, time.perf_counter() - t0)}
            if status["status"] == "partial" and max_seconds_per_run is None:
                return {"mismatch": json.loads(mm_path.read_text()), "arms": results, "complete": False}
            write_json(summary_path, summary)
            (run_dir / "ckpt.pt").unlink(missing_ok=True)  # the summary is the record; free the disk
        results[aid] = json.loads(summary_path.read_text())
    return {"mismatch": json.loads(mm_path.read_text()), "arms": results, "complete": True}
