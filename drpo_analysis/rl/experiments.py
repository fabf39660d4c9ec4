"""The paper_repro experiments as run specs: the regime sweep and the claims matrix.

Configurations live in ``paper_repro/*.json`` (committed); this module expands them into specs
for :mod:`drpo_analysis.rl.matrix` and chooses the regime from the sweep's results.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from drpo_analysis.rl.matrix import load_results, spec_id
from drpo_analysis.rl.mismatch_fit import MU_EDGES, sampled_tail_shares
from drpo_analysis.util import io


def load_config(cfg) -> dict:
    """A config dict, or the JSON file it names."""
    return cfg if isinstance(cfg, dict) else io.read_json(cfg)


FIT_SUFFIX = "_fit"  # mismatch part "<precision>_fit": the sampler noise fitted to that precision


def resolve_mismatch(text: str, fit: dict | None) -> str:
    """Replace every ``<precision>_fit`` part of a mismatch spec by the fitted noise's spec (left as
    it is without a fit: such a spec names a cell, it cannot run)."""
    if fit is None:
        return text
    parts = []
    for part in text.split("+"):
        if part.endswith(FIT_SUFFIX):
            prec = part[: -len(FIT_SUFFIX)]
            if prec not in fit.get("noise", {}):
                raise ValueError(f"mismatch part {part!r} needs a fitted {prec} sampler (run the fit phase)")
            part = fit["noise"][prec]["spec"]
        parts.append(part)
    return "+".join(parts)


def fitted_base(cfg: dict, fit: dict | None) -> dict:
    """The matrix's base run config with the fitted task tail (free-form length, Zipf exponent)."""
    base = dict(cfg["base"])
    if fit:
        base |= fit["task"] | {"model": fit["base_model"]}
    return base


def _spec(group: str, base: dict, method: str, params: dict, seed: int, fit, over=None, **tags) -> dict:
    conf = base | (over or {}) | {"method": method, "params": params, "seed": seed, "warm_seed": seed}
    conf["mismatch"] = resolve_mismatch(conf.get("mismatch", "none"), fit)
    tags = {k: v for k, v in (over or {}).items() if k != "mismatch"} | tags | {"s": seed}
    return {"id": spec_id(method, params, **tags), "group": group, "config": conf}


def sweep_specs(cfg="paper_repro/sweep.json", matrix_cfg="paper_repro/matrix.json", fit=None) -> list[dict]:
    """The regime sweep's runs: methods × lr × updates per rollout × mismatch × sweep seeds (never
    the matrix's seeds, so the regime is not chosen on the data that judges it)."""
    cfg, mcfg = load_config(cfg), load_config(matrix_cfg)
    if set(cfg["seeds"]) & set(mcfg["seeds"]):
        raise ValueError(f"sweep seeds {cfg['seeds']} overlap the matrix seeds {mcfg['seeds']}")
    base, g = fitted_base(mcfg, fit), cfg["grid"]
    specs = []
    for method, lr, (mb, ep), mm, seed in itertools.product(cfg["methods"], g["lr"], g["updates"],
                                                            g["mismatch"], cfg["seeds"]):
        over = {"lr": lr, "minibatches": mb, "epochs": ep, "mismatch": mm}
        sp = _spec("sweep", base, method, {}, seed, fit, over)
        sp["id"] = spec_id(method, lr=f"{lr:g}", u=mb * ep, m=mm, s=seed)
        sp["regime"] = over
        specs.append(sp)
    return specs


def choose_regime(results_dir: str, sweep_cfg="paper_repro/sweep.json", *, no_tr="pg_is", tr="dppo_binary_tv",
                  max_drop=0.02):
    """The sweep cell with the largest gap (trust region − none) in mean training reward over the
    last quarter of training (averaged over the sweep seeds), among cells where the trust-region
    method does not degrade (its last-quarter reward is not below its first-quarter reward by more
    than ``max_drop`` = 0.02); returns (cell, table). Sweep seeds are disjoint from the matrix's."""
    by_id = {s["id"]: s["regime"] for s in sweep_specs(sweep_cfg, {"seeds": [], "base": {}})}
    cells: dict = {}
    for r in load_results(results_dir, "sweep"):
        reg = by_id.get(r["id"])
        if reg is None:
            continue
        rew = r["curves"]["reward/mean"]
        q = max(1, len(rew) // 4)
        cell = cells.setdefault(json.dumps(reg, sort_keys=True), dict(reg, updates=reg["minibatches"] * reg["epochs"]))
        cell.setdefault(r["config"]["method"], []).append({"tail_reward": float(np.mean(rew[-q:])),
                                                           "head_reward": float(np.mean(rew[:q]))})
    table = []
    for cell in cells.values():
        if no_tr in cell and tr in cell:
            for m in (no_tr, tr):
                cell[m] = {k: float(np.mean([x[k] for x in cell[m]])) for k in ("tail_reward", "head_reward")}
            cell["gap"] = cell[tr]["tail_reward"] - cell[no_tr]["tail_reward"]
            cell["tr_stable"] = cell[tr]["tail_reward"] - cell[tr]["head_reward"] >= -max_drop
            table.append(cell)
    table.sort(key=lambda c: (c["lr"], c["updates"], c["mismatch"]))
    ok = [c for c in table if c["tr_stable"]] or table
    best = max(ok, key=lambda c: c["gap"]) if ok else None
    return best, table


def matrix_specs(regime: dict, cfg="paper_repro/matrix.json", fit=None) -> list[dict]:
    """Every (group, method, params, seed) of the matrix in the chosen regime."""
    cfg = load_config(cfg)
    base = fitted_base(cfg, fit) | {k: regime[k] for k in ("lr", "minibatches", "epochs", "mismatch")}
    specs = []
    for group, entries in cfg["groups"].items():
        for entry, seed in itertools.product(entries, cfg["seeds"]):
            method, params, over = (list(entry) + [{}])[:3]
            specs.append(_spec(group, base, method, params, seed, fit, over))
    return sorted(specs, key=lambda s: cfg["seeds"].index(s["config"]["seed"]))  # a seed's warm start is trained once


def _warm_policy(base: dict, *, seed: int, root: str, mismatch: str = "none"):
    """The warm-started policy of the config ``base`` (a Run built but not trained)."""
    import torch

    from drpo_analysis.rl import trainer

    conf = {k: v for k, v in base.items() if k in trainer.RLConfig.__dataclass_fields__}
    cfg = trainer.RLConfig(**(conf | {"mismatch": mismatch, "seed": seed, "warm_seed": seed,
                                      "model": _model(base)})).validate()
    torch.manual_seed(seed)
    run = trainer.Run(cfg, Path(root) / "precision-unused", root=root, progress=False)
    run._build()
    run.policy.eval()
    return run


def sample_at_identical_weights(base: dict, mismatch: str, *, prompts: int, seed: int, root: str,
                                with_logits: bool = False, warm_seed: int | None = None):
    """Sample with a ``mismatch`` sampler that holds the warm-started policy's weights (warm start of
    ``warm_seed``, default ``seed``) and score the sampled tokens under the fp32 policy: (μ [N], π [N],
    fp32 logits at those positions [N, V] or None)."""
    import numpy as np
    import torch

    from drpo_analysis.rl.rollout import MISMATCH, Sampler

    run = _warm_policy(base, seed=seed if warm_seed is None else warm_seed, root=root)
    sampler = Sampler(run.cfg.model, MISMATCH.parse(mismatch), seed=seed)
    sampler.load(run.policy.state_dict())
    p, _ = run.task.sample(np.random.default_rng(seed + 123), prompts)
    ro = sampler.sample(torch.as_tensor(p), run.task.answer_len, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logp, logp_all = run.policy_logp(ro.sequences)
    mu, pi = ro.logp_mu.exp()[ro.mask].double().numpy(), logp.exp()[ro.mask].double().numpy()
    logits = logp_all[ro.mask] if with_logits else None  # log-softmax = logits up to a per-row shift
    return mu, pi, logits


def bucket_table(mu, pi, edges=MU_EDGES) -> list[dict]:
    """Per-μ-bucket statistics of sampled tokens: count, mean / median / max of |π − μ| and |r − 1|,
    and the shares outside PPO's clip range [0.8, 1.28] and DPPO-TV's δ = 0.15."""
    import numpy as np

    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (mu >= lo) & ((mu < hi) if hi < edges[-1] else (mu <= hi))
        r, d = pi[sel] / mu[sel], np.abs(pi[sel] - mu[sel])
        r1, any_ = np.abs(r - 1), bool(sel.any())
        out.append({"bucket": f"{lo:g}-{hi:g}", "count": int(sel.sum()),
                    "abs_ratio_minus_1_median": float(np.median(r1)) if any_ else None,
                    "abs_ratio_minus_1_max": float(r1.max()) if any_ else None,
                    "abs_shift_mean": float(d.mean()) if any_ else None,
                    "abs_shift_median": float(np.median(d)) if any_ else None,
                    "abs_shift_max": float(d.max()) if any_ else None,
                    "ppo_clip_outside": float(((r > 1.28) | (r < 0.8)).mean()) if any_ else None,
                    "dppo_outside": float((d > 0.15).mean()) if any_ else None})
    return out


def precision_scatter(mismatch: str, base: dict, *, prompts=512, seed=0, root="runs", keep_points=4000) -> dict:
    """DPPO Fig. 2 on the model: at *identical weights*, sample with a ``mismatch`` sampler and
    compare the sampler's μ with the fp32 policy's π of every sampled token. Returns the (μ, π)
    pairs, per-μ-bucket statistics and the sampled-token tail shares."""
    import numpy as np

    mu, pi, _ = sample_at_identical_weights(base, mismatch, prompts=prompts, seed=seed, root=root)
    keep = np.random.default_rng(seed).permutation(mu.size)[:keep_points]  # points for the scatter only
    return {"mismatch": mismatch, "seed": seed, "tokens": int(mu.size), "mu": mu[keep].tolist(),
            "pi": pi[keep].tolist(), "buckets": bucket_table(mu, pi), "shares": sampled_tail_shares(mu)}


def fit_to_measurement(measurement, base: dict, *, seed: int, root="runs", prompts=96, check_prompts=512,
                       max_free=8, precisions=("bf16", "fp8")) -> dict:
    """Fit the task's tail and the sampler's mismatch to a real model's measurement (module
    :mod:`drpo_analysis.rl.mismatch_fit`), on the warm start of ``seed`` (a seed the matrix does not
    use), and check the fit by sampling with the fitted sampler on another prompt set."""
    from drpo_analysis.rl import tasks
    from drpo_analysis.rl.mismatch_fit import fit_noise, fit_tail, load_measurement, noise_spec

    meas = load_measurement(measurement)
    model = _model(base)
    plain = tasks.get(base["task"], base.get("task_size"))
    tail = fit_tail(meas.shares, n_words=model.vocab_size - tasks.FIRST_WORD, answer_tokens=plain.answer_len,
                    max_free=max_free)
    task_over = {"free": tail["free"], "zipf_s": tail["zipf_s"]}
    base = base | task_over | {"model": model.as_dict() | {"max_len": plain.prompt_len + plain.answer_len + tail["free"]}}
    mu0, pi0, logits = sample_at_identical_weights(base, "none", prompts=prompts, seed=seed, root=root,
                                                   with_logits=True)
    out = {"measurement": meas.source, "model": meas.model, "statistic": meas.statistic,
           "fit_seed": seed, "tail": tail, "task": task_over, "base_model": base["model"],
           "tail_measured": sampled_tail_shares(mu0), "noise": {}}
    for prec in precisions:
        if prec not in meas.abs_shift:
            continue
        f = fit_noise(logits.float(), meas.abs_shift[prec], edges=meas.edges, statistic=meas.statistic, seed=seed)
        spec = noise_spec(f["sigma"], f["beta"])
        mu, pi, _ = sample_at_identical_weights(base, spec, prompts=check_prompts, seed=seed + 1, root=root,
                                                warm_seed=seed)  # same policy, other prompts and draws
        check = [b[f"abs_shift_{meas.statistic}"] for b in bucket_table(mu, pi, meas.edges)]
        out["noise"][prec] = f | {"spec": spec, "check_sampled": check, "check_tokens": int(mu.size)}
    return out


def precision_specs(cfg="paper_repro/matrix.json") -> list[dict]:
    cfg = load_config(cfg)
    pc = cfg["precision"]
    return [{"id": f"{mm}-s{seed}", "group": "precision", "mismatch": mm, "seed": seed}
            for mm in pc["mismatches"] for seed in cfg["seeds"]]


def run_precision(specs: list[dict], cfg, fit, *, results: str, root="runs", progress=True) -> int:
    """The claim-7 measurements not yet in ``results`` (cheap: no training)."""
    from tqdm import tqdm

    from drpo_analysis.rl.matrix import pending, write_json

    cfg = load_config(cfg)
    base, pc = fitted_base(cfg, fit), cfg["precision"]
    todo = pending(specs, results)
    for s in tqdm(todo, desc="precision", disable=not progress, leave=False):
        keep = 4000 if s["seed"] == cfg["seeds"][0] else 0  # the figure scatters the first seed only
        out = precision_scatter(resolve_mismatch(s["mismatch"], fit), base, prompts=pc["prompts"], seed=s["seed"], root=root,
                                keep_points=keep)
        write_json(Path(results) / "precision" / f"{s['id']}.json", out | {"id": s["id"], "name": s["mismatch"]})
    return len(todo)


def _model(base):
    from drpo_analysis.rl.model import ModelConfig

    return ModelConfig(**base["model"]) if "model" in base else ModelConfig()
