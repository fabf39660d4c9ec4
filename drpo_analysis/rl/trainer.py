"""The GRPO loop: rollouts by a mismatched sampler, group advantages, several minibatch updates
per rollout with a registry method's loss, metrics as JSONL, atomic checkpoints, bitwise resume.

One training iteration (``step``):

1. the sampler loads the policy weights of ``stale`` iterations ago (mismatch applied) and
   samples ``samples_per_prompt`` responses for each of ``prompts_per_step`` prompts, recording
   ``log μ`` of every sampled token;
2. rewards → GRPO advantages ``Â = R − mean_g R`` (optionally ``/ (std_g R + eps)``) via
   :func:`drpo_analysis.core.advantages.group_advantages`;
3. ``epochs × minibatches`` AdamW updates (prompt groups split into minibatches), each with
   :func:`drpo_analysis.core.losses_torch.policy_loss` anchored on μ (DPPO/DRPO "bypass" mode), or on
   the recomputed old policy π_old (``anchor="old"``, MiniRL) with a truncated IS weight
   ``min(π_old/μ, tis_cap)`` folded into the per-token advantage (a positive per-token scale).

The loss and the per-token gradient weights ``w`` (``∂J/∂ℓ = Â r w``, read off autograd) come from
:mod:`drpo_analysis.rl.policy_update`, shared with the Hugging Face model path.
"""
from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from drpo_analysis.core import aggregation, methods
from drpo_analysis.core.advantages import group_advantages
from drpo_analysis.rl import checkpoint, tasks, warmstart
from drpo_analysis.rl.mismatch_fit import MU_EDGES
from drpo_analysis.rl.model import ModelConfig, TinyGPT
from drpo_analysis.rl.policy_update import aggregation_kwargs, loss_and_weights, needs_topk
from drpo_analysis.rl.rollout import MISMATCH, Sampler
from drpo_analysis.util import io

MU_BUCKETS = MU_EDGES  # μ edges of the per-bucket statistics
TOPK = 20
ANCHORS = ("mu", "old")


@dataclass
class RLConfig:
    method: str = "drpo"
    params: dict = field(default_factory=dict)
    task: str = "add"
    task_size: int | None = None
    free: int = 0  # free-form Zipf word tokens before the answer (the long tail; tasks.py)
    zipf_s: float = 1.0
    mismatch: str = "bf16"
    seed: int = 0
    steps: int = 100
    prompts_per_step: int = 16
    samples_per_prompt: int = 8
    minibatches: int = 4
    epochs: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    agg: str = "seq-mean-token-sum-norm"
    std_normalize: bool = False
    adv_eps: float = 1e-6
    anchor: str = "mu"
    tis_cap: float = 2.0
    eval_every: int = 10
    eval_size: int = 256
    eval_samples: int = 1  # samples per held-out prompt for eval/sampled_acc
    ckpt_every: int = 25
    model: ModelConfig = field(default_factory=ModelConfig)
    warm_seed: int = 0
    warm_target_acc: float = 0.5
    warm_lr: float = 3e-3
    device: str = "cpu"

    # ---- validation: every bad value is reported before any compute ------------------------
    def validate(self) -> "RLConfig":
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        self.model.validate()
        m = methods.get(self.method)
        self.params = m.resolve_params(self.params)
        task = self.make_task()
        MISMATCH.parse(self.mismatch)
        if self.agg not in aggregation.MODES:
            raise ValueError(f"agg must be one of {list(aggregation.MODES)}, got {self.agg!r}")
        if self.anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {list(ANCHORS)}, got {self.anchor!r}")
        for name, low in (("steps", 1), ("prompts_per_step", 1), ("samples_per_prompt", 2),
                          ("minibatches", 1), ("epochs", 1), ("eval_every", 1), ("eval_size", 1), ("eval_samples", 1),
                          ("ckpt_every", 1), ("seed", 0), ("warm_seed", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.prompts_per_step % self.minibatches:
            raise ValueError(f"prompts_per_step ({self.prompts_per_step}) must be divisible by "
                             f"minibatches ({self.minibatches}): minibatches split whole prompt groups")
        for name, lo, hi in (("lr", 0.0, 1.0), ("weight_decay", -1e-12, 10.0), ("grad_clip", 0.0, 1e6),
                             ("adv_eps", -1e-12, 1.0), ("tis_cap", 0.0, 1e6), ("warm_target_acc", 0.0, 1.0),
                             ("warm_lr", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v <= hi:
                raise ValueError(f"{name} must be a number in ({max(lo, 0)}, {hi}], got {v!r}")
        if task.prompt_len + task.answer_len > self.model.max_len:
            raise ValueError(f"model.max_len {self.model.max_len} < prompt + answer length "
                             f"{task.prompt_len + task.answer_len} of task {self.task!r}")
        if self.model.vocab_size < tasks.VOCAB_SIZE:
            raise ValueError(f"model.vocab_size must be >= {tasks.VOCAB_SIZE}")
        if not task.free and self.model.vocab_size != tasks.VOCAB_SIZE:
            raise ValueError(f"model.vocab_size {self.model.vocab_size} has word tokens but free = 0 never "
                             f"uses them; set free > 0 or vocab_size {tasks.VOCAB_SIZE}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    def make_task(self) -> tasks.Task:
        model = ModelConfig(**self.model) if isinstance(self.model, dict) else self.model
        return tasks.get(self.task, self.task_size, free=self.free, vocab_size=model.vocab_size,
                         zipf_s=self.zipf_s)

    def warm_config(self) -> warmstart.WarmConfig:
        return warmstart.WarmConfig(task=self.task, task_size=self.task_size, free=self.free, zipf_s=self.zipf_s,
                                    model=self.model,
                                    seed=self.warm_seed, target_acc=self.warm_target_acc, lr=self.warm_lr)


def smoke_config(**overrides) -> RLConfig:
    """A tiny configuration of the same code (CI: well under a minute)."""
    base = dict(task="sort", task_size=4, steps=6, prompts_per_step=4, samples_per_prompt=4,
                minibatches=2, eval_every=3, eval_size=64, ckpt_every=3, warm_target_acc=0.3,
                model=ModelConfig(d_model=32, n_layer=1, n_head=2, max_len=16), mismatch="bf16+noise=0.2")
    return RLConfig(**(base | overrides))


# ---- statistics over the updates of one step ----------------------------------------------------
class Stats:
    """Running sums / counts / extrema of named per-token quantities."""

    def __init__(self):
        self.sum, self.n, self.max, self.min = {}, {}, {}, {}

    def add(self, name, values: torch.Tensor):
        v = values.detach().double().flatten()
        if v.numel() == 0:
            return
        self.sum[name] = self.sum.get(name, 0.0) + float(v.sum())
        self.n[name] = self.n.get(name, 0) + v.numel()
        self.max[name] = max(self.max.get(name, -math.inf), float(v.max()))
        self.min[name] = min(self.min.get(name, math.inf), float(v.min()))

    def mean(self, name):
        return self.sum[name] / self.n[name] if self.n.get(name) else None


def token_stats(st: Stats, logp, logp_mu, adv, w, valid):
    """Shift / ratio / weight statistics of one update's sampled tokens (μ = the rollout's)."""
    pi, mu = logp.exp()[valid], logp_mu.exp()[valid]
    shift, ratio = pi - mu, (logp - logp_mu).exp()[valid]
    st.add("shift_abs", shift.abs())
    st.add("ratio", ratio)
    has_adv = adv[valid] != 0
    wv = w[valid][has_adv]
    st.add("weight", wv)
    st.add("masked", (wv == 0).double())
    st.add("attenuated", ((wv > 0) & (wv < 1 - 1e-4)).double())
    st.add("amplified", (wv > 1 + 1e-4).double())
    st.add("reversed", (wv < 0).double())
    mu_a = mu[has_adv]
    for lo, hi in zip(MU_BUCKETS[:-1], MU_BUCKETS[1:]):
        sel = (mu >= lo) & (mu < hi) if hi < 1 else (mu >= lo)
        sel_a = (mu_a >= lo) & (mu_a < hi) if hi < 1 else (mu_a >= lo)
        key = f"bucket/{lo:g}-{hi:g}"
        st.add(f"{key}/abs_ratio_minus_1", (ratio[sel] - 1).abs())
        st.add(f"{key}/abs_shift", shift[sel].abs())
        st.add(f"{key}/masked", (wv[sel_a] == 0).double())
        st.add(f"{key}/weight", wv[sel_a])


def finalize(st: Stats, step_metrics: dict) -> dict:
    m = dict(step_metrics)
    m["shift/mean_abs"], m["shift/max_abs"] = st.mean("shift_abs"), st.max.get("shift_abs")
    m["ratio/max"], m["ratio/min"] = st.max.get("ratio"), st.min.get("ratio")
    for k in ("masked", "attenuated", "amplified", "reversed"):
        m[f"frac/{k}"] = st.mean(k)
    m["weight/mean"], m["weight/min"], m["weight/max"] = st.mean("weight"), st.min.get("weight"), st.max.get("weight")
    for name in st.sum:
        if name.startswith("bucket/"):
            m[f"{name}/mean"] = st.mean(name)
            if name.endswith(("abs_ratio_minus_1", "abs_shift")):
                m[f"{name}/max"] = st.max[name]
                m[f"{name.rsplit('/', 1)[0]}/count"] = st.n[name]
    return m


# ---- one training run -----------------------------------------------------------------------------
class Run:
    """State of one RL run (policy, optimiser, sampler, RNG streams) and its training loop."""

    def __init__(self, cfg: RLConfig, out_dir, *, root="runs", progress=True):
        self.cfg = cfg.validate()
        self.out = Path(out_dir)
        self.root, self.progress = root, progress
        self.method = methods.get(cfg.method)
        self.task = self.cfg.make_task()
        self.mismatch = MISMATCH.parse(cfg.mismatch)
        self.dev = torch.device(cfg.device)

    def _build(self):
        cfg, dev = self.cfg, self.dev
        warm = warmstart.load_or_train(cfg.warm_config(), root=self.root, device=dev, progress=self.progress)
        self.warm_acc = warm["accuracy"]
        self.policy = TinyGPT(cfg.model).to(dev)
        self.policy.load_state_dict(warm["model"])
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sampler = Sampler(cfg.model, self.mismatch, device=dev, seed=cfg.seed + 1)
        self.np_rng = np.random.default_rng(cfg.seed)
        self.gens = {"sample": torch.Generator(dev).manual_seed(cfg.seed),
                     "eval": torch.Generator(dev).manual_seed(cfg.seed + 2),
                     "noise": self.sampler.noise_gen}
        self.snapshots: deque = deque(maxlen=self.mismatch.stale + 1)
        self.eval_set = warmstart.heldout(self.task, cfg.eval_size)
        self.step = 0

    # -- checkpoints --
    def state(self) -> dict:
        return {"step": self.step, "model": self.policy.state_dict(), "optimizer": self.opt.state_dict(),
                "snapshots": list(self.snapshots), "rng": checkpoint.rng_state(self.np_rng, self.gens),
                "config": self.cfg.as_dict()}

    def restore(self, state: dict):
        self.step = state["step"]
        self.policy.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.snapshots.extend(state["snapshots"])
        checkpoint.restore_rng(state["rng"], self.np_rng, self.gens)

    # -- the loop --
    def train(self, *, resume=False, stop_after: int | None = None) -> dict:
        """Run to ``cfg.steps`` (or ``stop_after`` steps, to simulate a kill); returns the summary."""
        from tqdm import tqdm

        cfg, out = self.cfg, self.out
        ckpt_path, metrics_path, config_path = out / "ckpt.pt", out / "metrics.jsonl", out / "config.json"
        # every check first: nothing in the folder is written before they pass
        io.writable_dir(out)
        if not resume and any(p.exists() for p in (ckpt_path, metrics_path, config_path)):
            raise ValueError(f"{out} already holds a run; pass resume=True (--resume) or another out dir")
        state = None
        if resume:
            if config_path.exists():
                check_same_config(io.read_json(config_path), cfg.as_dict(), f"--resume: {config_path}")
            if ckpt_path.exists():
                state = checkpoint.load(ckpt_path, self.dev)
                check_same_config(state["config"], cfg.as_dict(), f"--resume: {ckpt_path}")
        io.ensure_dir(out)
        if not config_path.exists():
            io.write_json(config_path, cfg.as_dict(), indent=1, default=str)
        torch.manual_seed(cfg.seed)
        self._build()
        if state is not None:
            self.restore(state)
            checkpoint.truncate_metrics(metrics_path, self.step)  # a torn last line is dropped too
        elif metrics_path.exists():
            metrics_path.unlink()  # killed before the first checkpoint: start over
        end = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        bar = tqdm(range(self.step, end), initial=self.step, total=cfg.steps, disable=not self.progress,
                   desc=f"rl {cfg.method} {cfg.mismatch} s{cfg.seed}", leave=False)
        status = "ok"
        for _ in bar:
            ev = self.evaluate() if self.step % cfg.eval_every == 0 else {}  # the policy after `step` updates
            m = self.rl_step() | ev
            self.step += 1
            io.append_jsonl(metrics_path, m)
            bar.set_postfix(reward=f"{m['reward/mean']:.2f}", shift=f"{m['shift/mean_abs'] or 0:.3f}")
            if not m["finite"]:
                status = "diverged"
                break
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                checkpoint.save_atomic(self.state(), ckpt_path)
        if self.step == cfg.steps or status == "diverged":
            final = {"step": self.step, **self.evaluate()}
            io.append_jsonl(metrics_path, final)
        return {"status": status if self.step == cfg.steps or status == "diverged" else "partial",
                "step": self.step, "warm_acc": self.warm_acc, "out": str(out)}

    def sync_sampler(self):
        sd = {k: v.detach().clone() for k, v in self.policy.state_dict().items()}
        self.snapshots.append(sd)
        self.sampler.load(self.snapshots[0])  # k iterations old once the queue is full

    def evaluate(self) -> dict:
        """Held-out greedy accuracy and the mean accuracy of ``eval_samples`` samples per prompt at
        temperature 1 (the expected reward RL maximises, estimated with less noise than one sample)."""
        p, a = self.eval_set
        k = self.cfg.eval_samples
        return {"eval/greedy_acc": warmstart.accuracy(self.policy, self.task, p, a, greedy=True),
                "eval/sampled_acc": warmstart.accuracy(self.policy, self.task, p.repeat(k, 0), a.repeat(k, 0),
                                                       greedy=False, generator=self.gens["eval"])}

    def rl_step(self) -> dict:
        cfg, task, dev = self.cfg, self.task, self.dev
        G, n = cfg.prompts_per_step, cfg.samples_per_prompt
        self.sync_sampler()
        prompts, answers = task.sample(self.np_rng, G)
        prompts, answers = np.repeat(prompts, n, 0), np.repeat(answers, n, 0)  # [B, P], [B, A]
        t0 = time.perf_counter()
        ro = self.sampler.sample(torch.as_tensor(prompts, device=dev), task.answer_len, self.gens["sample"],
                                 topk=min(TOPK, cfg.model.vocab_size) if needs_topk(self.method) else 0)
        t_sample = time.perf_counter() - t0
        rewards = task.reward(answers, ro.tokens.cpu().numpy())  # [B]
        adv = group_advantages(rewards.reshape(G, n), std_normalize=cfg.std_normalize, eps=cfg.adv_eps)
        adv_tok = torch.as_tensor(adv.reshape(-1), dtype=torch.float32, device=dev)[:, None].expand_as(ro.logp_mu)
        group_ids = np.repeat(np.arange(G), n)
        anchor = ro.logp_mu
        if cfg.anchor == "old":  # MiniRL: ratio on the recomputed π_old, truncated IS weight π_old/μ
            with torch.no_grad():
                anchor = self.policy_logp(ro.sequences)[0]
            adv_tok = adv_tok * (anchor - ro.logp_mu).exp().clamp(max=cfg.tis_cap)
        st, gnorms, losses, finite = Stats(), [], [], True
        t0 = time.perf_counter()
        for _ in range(cfg.epochs):
            for groups in np.array_split(self.np_rng.permutation(G), cfg.minibatches):
                rows = torch.as_tensor(np.flatnonzero(np.isin(group_ids, groups)), device=dev)
                loss, gn, ok = self.update(ro, rows, anchor, adv_tok, group_ids, st)
                losses.append(loss)
                gnorms.append(gn)
                finite &= ok
        t_train = time.perf_counter() - t0
        B, T = ro.sequences.shape
        m = {"step": self.step, "reward/mean": float(rewards.mean()),
             "response/length_mean": float(ro.mask.sum(1).float().mean()),
             "loss/mean": float(np.mean(losses)), "grad/norm_mean": float(np.mean(gnorms)),
             "grad/norm_max": float(np.max(gnorms)), "entropy/mean": st.mean("entropy"),
             "adv/frac_zero_groups": float((np.abs(adv).sum(1) == 0).mean()),
             "perf/sample_tokens_per_s": B * task.answer_len / t_sample,
             "perf/train_tokens_per_s": cfg.epochs * B * (T - 1) / t_train, "finite": finite}
        return finalize(st, m)

    def policy_logp(self, seq):
        """log π of the response tokens [b, A] and the full log-probs [b, A, V] (float32)."""
        P = self.task.prompt_len
        logits, _ = self.policy(seq[:, :-1])
        logp_all = torch.log_softmax(logits[:, P - 1:].float(), dim=-1)  # [b, A, V]
        return logp_all.gather(-1, seq[:, P:, None]).squeeze(-1), logp_all

    def update(self, ro, rows, anchor, adv_tok, group_ids, st: Stats):
        cfg = self.cfg
        seq, mask = ro.sequences[rows], ro.mask[rows]  # [b, P + A], [b, A]
        logp, logp_all = self.policy_logp(seq)  # [b, A], [b, A, V]
        anc, adv = anchor[rows], adv_tok[rows]
        agg_kw = aggregation_kwargs(cfg.agg, horizon=self.task.answer_len, group_ids=group_ids[rows.cpu().numpy()])
        topk = {"topk_ids": ro.topk_ids[rows], "topk_logp_mu": ro.topk_logp_mu[rows]} if ro.topk_ids is not None else {}
        u = loss_and_weights(self.method, logp, anc, adv, mask, agg=cfg.agg, params=cfg.params,
                             extras_kw={"logp_all": logp_all, **topk}, agg_kw=agg_kw)
        self.opt.zero_grad(set_to_none=True)
        logp.backward(u.grad)
        gn = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip))
        ok = u.finite and math.isfinite(gn)
        if ok:
            self.opt.step()
        with torch.no_grad():
            token_stats(st, logp.detach(), ro.logp_mu[rows], adv, u.weight, mask)
            ent = -(logp_all.exp() * logp_all).sum(-1)
            st.add("entropy", ent[mask])
        return u.loss.item(), gn, ok


def check_same_config(recorded: dict, requested: dict, where: str) -> None:
    """Raise ``ValueError`` naming every field where ``requested`` differs from ``recorded``."""
    diffs = differences(recorded, requested)
    if diffs:
        raise ValueError(f"{where} records another configuration: {'; '.join(diffs)}")


def differences(recorded: dict, requested: dict) -> list[str]:
    """``"field: recorded X, requested Y"`` for each top-level field (of the JSON forms) that differs."""
    a, b = (json.loads(json.dumps(d, default=str)) for d in (recorded, requested))
    return [f"{k}: recorded {a.get(k)!r}, requested {b.get(k)!r}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def read_metrics(path) -> list[dict]:
    return io.read_jsonl(path)


def run(cfg: RLConfig, out_dir, *, resume=False, root="runs", progress=True, stop_after=None) -> dict:
    """Train one RL run into ``out_dir`` (metrics.jsonl, config.json, ckpt.pt)."""
    return Run(cfg, out_dir, root=root, progress=progress).train(resume=resume, stop_after=stop_after)
