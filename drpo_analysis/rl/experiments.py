"""The paper_repro experiments as run specs: the regime sweep and the claims matrix.

Configurations live in ``paper_repro/*.json`` (committed); this module expands them into specs
for :mod:`drpo_analysis.rl.matrix` and chooses the regime from the sweep's results.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from drpo_analysis.core.mismatch import MismatchSpec
from drpo_analysis.rl.matrix import load_results, spec_id
from drpo_analysis.util import io


def mismatch_spec(precision: str, noise: float, stale: int) -> str:
    """The canonical spelling of a sweep point's mismatch (e.g. ``bf16+noise=1+stale=2``)."""
    return str(MismatchSpec(precision, noise=float(noise), stale=int(stale)))


def load_config(cfg) -> dict:
    """A config dict, or the JSON file it names."""
    return cfg if isinstance(cfg, dict) else io.read_json(cfg)


def sweep_specs(cfg="paper_repro/sweep.json") -> list[dict]:
    cfg = load_config(cfg)
    g = cfg["grid"]
    specs = []
    for method, lr, (mb, ep), noise, stale in itertools.product(cfg["methods"], g["lr"], g["updates"],
                                                               g["noise"], g["stale"]):
        mm = mismatch_spec("bf16", noise, stale)
        conf = cfg["base"] | {"method": method, "lr": lr, "minibatches": mb, "epochs": ep, "mismatch": mm}
        sid = spec_id(method, lr=f"{lr:g}", u=mb * ep, n=f"{noise:g}", k=stale)
        specs.append({"id": sid, "group": "sweep", "config": conf})
    return specs


def regime_key(conf: dict) -> tuple:
    return (conf["lr"], conf["minibatches"] * conf["epochs"], conf["mismatch"])


def choose_regime(results_dir: str, *, no_tr="pg_is", tr="dppo_binary_tv", max_drop=0.02):
    """The sweep cell with the largest gap (trust region − none) in mean training reward over the
    last quarter of training, among cells where the trust-region method is *stable* (its last-quarter
    reward is not below its first-quarter reward by more than ``max_drop`` = 0.02); returns (cell, table).

    (A first rule, "the trust-region method improves by ≥ 0.05", picked a cell with a 0.002 gap, i.e.
    a regime where trust regions do not matter; it was replaced by this one before the matrix ran.)
    """
    res = load_results(results_dir, "sweep")
    cells = {}
    for r in res:
        c = r["config"]
        rew = r["curves"]["reward/mean"]
        q = max(1, len(rew) // 4)
        tail, head = sum(rew[-q:]) / q, sum(rew[:q]) / q
        cell = cells.setdefault(regime_key(c), {"lr": c["lr"], "updates": c["minibatches"] * c["epochs"],
                                                "minibatches": c["minibatches"], "epochs": c["epochs"],
                                                "mismatch": c["mismatch"]})
        cell[r["config"]["method"]] = {"tail_reward": tail, "head_reward": head,
                                       "max_shift": max(v for v in r["curves"]["shift/max_abs"] if v is not None),
                                       "final_greedy": r["eval"]["greedy_acc"][-1]}
    table = []
    for cell in cells.values():
        if no_tr in cell and tr in cell:
            cell["gap"] = cell[tr]["tail_reward"] - cell[no_tr]["tail_reward"]
            cell["tr_stable"] = cell[tr]["tail_reward"] - cell[tr]["head_reward"] >= -max_drop
            table.append(cell)
    table.sort(key=lambda c: (c["lr"], c["updates"], c["mismatch"]))
    ok = [c for c in table if c["tr_stable"]] or table
    best = max(ok, key=lambda c: c["gap"]) if ok else None
    return best, table


def matrix_specs(regime: dict, cfg="paper_repro/matrix.json") -> list[dict]:
    """Every (group, method, params, seed) of the matrix in the chosen regime."""
    cfg = load_config(cfg)
    base = cfg["base"] | {"lr": regime["lr"], "minibatches": regime["minibatches"],
                          "epochs": regime["epochs"], "mismatch": regime["mismatch"]}
    specs = []
    for group, entries in cfg["groups"].items():
        for entry, seed in itertools.product(entries, cfg["seeds"]):
            method, params, over = (list(entry) + [{}])[:3]
            tags = {f"{k}": v for k, v in over.items()} | {"s": seed}
            specs.append({"id": spec_id(method, params, **tags), "group": group,
                          "config": base | over | {"method": method, "params": params, "seed": seed}})
    return specs


def precision_scatter(mismatch: str, *, task="add", task_size=2, prompts=512, seed=0, root="runs",
                      warm_target_acc=0.3, model=None, keep_points=4000) -> dict:
    """DPPO Fig. 2 on the model: at *identical weights*, sample with a bf16 / fp8 sampler and
    compare the sampler's μ with the fp32 policy's π of every sampled token. Returns the (μ, π)
    pairs and per-μ-bucket statistics of |r − 1| and |Δ|."""
    import numpy as np
    import torch

    from drpo_analysis.rl import trainer
    from drpo_analysis.rl.model import ModelConfig
    from drpo_analysis.rl.rollout import MISMATCH, Sampler

    cfg = trainer.RLConfig(task=task, task_size=task_size, mismatch=mismatch, seed=seed,
                           warm_target_acc=warm_target_acc, model=model or ModelConfig()).validate()
    torch.manual_seed(seed)
    run = trainer.Run(cfg, Path(root) / "precision-unused", root=root, progress=False)
    run._build()
    policy, t = run.policy.eval(), run.task
    sampler = Sampler(cfg.model, MISMATCH.parse(mismatch), seed=seed)
    sampler.load(policy.state_dict())
    p, _ = t.sample(np.random.default_rng(seed + 123), prompts)
    ro = sampler.sample(torch.as_tensor(p), t.answer_len, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logp = run.policy_logp(ro.sequences)[0]
    mu, pi = ro.logp_mu.exp()[ro.mask].double().numpy(), logp.exp()[ro.mask].double().numpy()
    buckets = []
    for lo, hi in zip(trainer.MU_BUCKETS[:-1], trainer.MU_BUCKETS[1:]):
        sel = (mu >= lo) & ((mu < hi) if hi < 1 else (mu <= hi))
        r1, d = np.abs(pi[sel] / mu[sel] - 1), np.abs(pi[sel] - mu[sel])
        buckets.append({"bucket": f"{lo:g}-{hi:g}", "count": int(sel.sum()),
                        "abs_ratio_minus_1_median": float(np.median(r1)) if sel.any() else None,
                        "abs_ratio_minus_1_max": float(r1.max()) if sel.any() else None,
                        "abs_shift_median": float(np.median(d)) if sel.any() else None,
                        "abs_shift_max": float(d.max()) if sel.any() else None,
                        "ppo_clip_outside": float(((pi[sel] / mu[sel] > 1.28) | (pi[sel] / mu[sel] < 0.8)).mean())
                        if sel.any() else None,
                        "dppo_outside": float((d > 0.15).mean()) if sel.any() else None})
    keep = np.random.default_rng(seed).permutation(mu.size)[:keep_points]  # points for the scatter only
    return {"mismatch": mismatch, "seed": seed, "tokens": int(mu.size), "mu": mu[keep].tolist(),
            "pi": pi[keep].tolist(), "buckets": buckets}


def precision_specs(cfg="paper_repro/matrix.json") -> list[dict]:
    cfg = load_config(cfg)
    pc = cfg["precision"]
    return [{"id": f"{mm}-s{seed}", "group": "precision", "mismatch": mm, "seed": seed}
            for mm in pc["mismatches"] for seed in cfg["seeds"]]


def run_precision(specs: list[dict], cfg, *, results: str, root="runs", progress=True) -> int:
    """The claim-7 measurements not yet in ``results`` (cheap: no training)."""
    from tqdm import tqdm

    from drpo_analysis.rl.matrix import pending, write_json

    cfg = load_config(cfg)
    base, pc = cfg["base"], cfg["precision"]
    todo = pending(specs, results)
    for s in tqdm(todo, desc="precision", disable=not progress, leave=False):
        keep = 4000 if s["seed"] == cfg["seeds"][0] else 0  # the figure scatters the first seed only
        out = precision_scatter(s["mismatch"], task=base["task"], task_size=base.get("task_size"),
                                prompts=pc["prompts"], seed=s["seed"], root=root,
                                warm_target_acc=base["warm_target_acc"], model=_model(base), keep_points=keep)
        write_json(Path(results) / "precision" / f"{s['id']}.json", out)
    return len(todo)


def _model(base):
    from drpo_analysis.rl.model import ModelConfig

    return ModelConfig(**base["model"]) if "model" in base else ModelConfig()
