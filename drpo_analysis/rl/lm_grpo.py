"""GRPO on a Hugging Face causal LM: an fp32 trainer, a bf16 / fp8 sampler copy synced after every
step, a text task with an exact-match reward, any registry method's loss, metrics as JSONL,
atomic checkpoints and resume.

One training step:

1. the sampler holds the policy weights of ``stale`` steps ago cast to its precision (``mismatch``,
   e.g. ``"bf16+stale=1"``; :class:`drpo_analysis.rl.hf_policy.LMSampler`); it samples
   ``samples_per_prompt`` responses for each of ``prompts_per_step`` few-shot prompts and records log μ of every sampled token;
2. exact-match rewards → GRPO advantages ``Â = R − mean_g R`` (optionally divided by the group
   std; DeepSeekMath arXiv:2402.03300 eq. 3);
3. ``epochs × minibatches`` AdamW updates of the fp32 policy with
   :func:`drpo_analysis.core.losses_torch.policy_loss` anchored on μ (the ratio π/μ is the
   training–inference mismatch plus the policy's drift within the step).

The model comes from the caller (``build``: a function returning an fp32 model and a
:class:`~drpo_analysis.rl.text_tasks.Tokenizer`), so this loop serves a tiny random LLaMA in tests
and SmolLM2-135M-Instruct on a GPU alike.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from drpo_analysis.core import aggregation, methods
from drpo_analysis.core.advantages import group_advantages
from drpo_analysis.rl import checkpoint
from drpo_analysis.rl.hf_policy import MISMATCH, LMRollout, LMSampler, generate, left_pad, response_logp
from drpo_analysis.rl.policy_update import aggregation_kwargs, loss_and_weights, needs_topk
from drpo_analysis.rl.text_tasks import TextTask
from drpo_analysis.rl.trainer import Stats, check_same_config, finalize, read_metrics, token_stats
from drpo_analysis.util import io

TOPK = 20
EVAL_SEED = 1_000_003  # held-out prompts come from their own stream, never from a training seed


@dataclass
class LMConfig:
    model: str = "tiny"  # a name the caller's model table resolves (recorded for resume checks)
    method: str = "drpo"
    params: dict = field(default_factory=dict)
    task: str = "add"
    task_size: int = 1
    shots: int = 0
    mismatch: str = "bf16"  # the sampler's precision and staleness (hf_policy.MISMATCH)
    seed: int = 0
    steps: int = 20
    prompts_per_step: int = 8
    samples_per_prompt: int = 8
    minibatches: int = 2
    epochs: int = 1
    lr: float = 1e-4
    grad_clip: float = 1.0
    agg: str = "token-mean"
    std_normalize: bool = False
    max_new_tokens: int = 3
    eval_every: int = 5
    eval_size: int = 64
    ckpt_every: int = 10
    warmup_steps: int = 150  # tiny model: supervised warm-start steps before GRPO (the caller's build)
    device: str = "cpu"

    def validate(self) -> "LMConfig":
        self.params = methods.get(self.method).resolve_params(self.params)
        self.text_task()
        MISMATCH.parse(self.mismatch)
        aggregation.check_mode(self.agg)
        for name, low in (("steps", 1), ("prompts_per_step", 1), ("samples_per_prompt", 2), ("minibatches", 1),
                          ("epochs", 1), ("eval_every", 1), ("eval_size", 1), ("ckpt_every", 1), ("seed", 0),
                          ("max_new_tokens", 1), ("warmup_steps", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.prompts_per_step % self.minibatches:
            raise ValueError(f"prompts_per_step ({self.prompts_per_step}) must be divisible by minibatches "
                             f"({self.minibatches}): minibatches split whole prompt groups")
        for name, hi in (("lr", 1.0), ("grad_clip", 1e6)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= hi:
                raise ValueError(f"{name} must be a number in (0, {hi}], got {v!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
        return self

    def text_task(self) -> TextTask:
        return TextTask(self.task, self.task_size, self.shots).validate()

    def as_dict(self) -> dict:
        return asdict(self)


class LMRun:
    """State of one run (fp32 policy, optimiser, sampler, snapshots) and its training loop."""

    def __init__(self, cfg: LMConfig, out_dir, build: Callable[[], tuple], *, progress=True):
        self.cfg = cfg.validate()
        self.out, self.build, self.progress = Path(out_dir), build, progress
        self.method = methods.get(cfg.method)
        self.task = cfg.text_task()
        self.dev = torch.device(cfg.device)

    def _setup(self):
        cfg = self.cfg
        policy, self.tok = self.build()
        self.policy = policy.float().to(self.dev)
        self.policy.config.use_cache = True
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=cfg.lr, weight_decay=0.0)
        spec = MISMATCH.parse(cfg.mismatch)
        self.sampler = LMSampler(self.policy, spec.precision)
        self.snapshots: deque = deque(maxlen=spec.stale + 1)
        self.np_rng = np.random.default_rng(cfg.seed)
        self.eval_prompts, self.eval_answers = self.task.sample(np.random.default_rng(EVAL_SEED), cfg.eval_size)
        self.step = 0

    # -- checkpoints --
    def state(self) -> dict:
        return {"step": self.step, "model": self.policy.state_dict(), "optimizer": self.opt.state_dict(),
                # with stale = 0 the one snapshot is replaced at the next sync: not worth saving
                "snapshots": list(self.snapshots) if self.snapshots.maxlen > 1 else [],
                "numpy": self.np_rng.bit_generator.state,
                "config": self.cfg.as_dict()}

    def restore(self, state: dict):
        self.step = state["step"]
        self.policy.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.snapshots.extend(state["snapshots"])
        self.np_rng.bit_generator.state = state["numpy"]

    def train(self, *, resume=False, stop_after: int | None = None, max_seconds: float | None = None) -> dict:
        """Run to ``cfg.steps`` (or ``stop_after`` more steps, to simulate a kill, or until
        ``max_seconds`` of wall time have passed: status ``"partial"``, resumable); returns a summary."""
        from tqdm import tqdm

        cfg, out = self.cfg, self.out
        ckpt_path, metrics_path = out / "ckpt.pt", out / "metrics.jsonl"
        if not resume and (ckpt_path.exists() or metrics_path.exists()):
            raise ValueError(f"{out} already holds a run; pass resume=True (--resume) or another out dir")
        state = checkpoint.load(ckpt_path, self.dev) if resume and ckpt_path.exists() else None
        if state is not None:   # checked before anything in the folder is written
            check_same_config(state["config"], cfg.as_dict(), f"--resume: {ckpt_path}")
        if resume and state is None and metrics_path.exists():
            metrics_path.unlink()  # killed before the first checkpoint: start over
        io.write_json(out / "config.json", cfg.as_dict(), indent=1)
        torch.manual_seed(cfg.seed)
        self._setup()
        if state is not None:
            self.restore(state)
            checkpoint.truncate_metrics(metrics_path, self.step)   # a torn last line is dropped too
        start_acc = None if self.step else self.evaluate()["eval/greedy_acc"]
        end = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        bar = tqdm(range(self.step, end), initial=self.step, total=cfg.steps, disable=not self.progress,
                   desc=f"lm-grpo {cfg.method} {cfg.mismatch}", leave=False)
        status, t_start = "ok", time.perf_counter()
        if start_acc is not None:
            io.append_jsonl(metrics_path, {"step": -1, "eval/greedy_acc": start_acc})
        for _ in bar:
            m = self.rl_step()
            self.step += 1
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                m.update(self.evaluate())
            io.append_jsonl(metrics_path, m)
            bar.set_postfix(reward=f"{m['reward/mean']:.2f}", shift=f"{m['shift/mean_abs'] or 0:.2g}")
            if not m["finite"]:
                status = "diverged"
                break
            out_of_time = max_seconds is not None and time.perf_counter() - t_start > max_seconds
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps or out_of_time:
                checkpoint.save_atomic(self.state(), ckpt_path)
            if out_of_time:
                if "eval/greedy_acc" not in m:  # the last logged step carries a held-out accuracy
                    m = {"step": self.step - 1, **self.evaluate()}
                    io.append_jsonl(metrics_path, m)
                break
        done = self.step == cfg.steps or status == "diverged"
        return {"status": status if done else "partial", "step": self.step, "out": str(out)}

    # -- one step --
    def encode(self, prompts: list[str]):
        return left_pad([self.tok.encode(p) for p in prompts], self.tok.pad_id, self.dev)

    def responses(self, ro) -> list[str]:
        return [self.tok.decode(t[m].tolist()) for t, m in zip(ro.tokens.cpu(), ro.mask.cpu())]

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Greedy exact-match accuracy of the fp32 policy on the held-out prompts."""
        cfg, hits = self.cfg, []
        self.policy.eval()
        for i in range(0, cfg.eval_size, 64):
            ids, mask = self.encode(self.eval_prompts[i:i + 64])
            ro = generate(self.policy, ids, mask, cfg.max_new_tokens, stop_ids=self.tok.stop_ids,
                          pad_id=self.tok.pad_id, greedy=True)
            hits.append(self.task.reward(self.eval_answers[i:i + 64], self.responses(ro)))
        self.policy.train()
        return {"eval/greedy_acc": float(np.concatenate(hits).mean())}

    def sync_sampler(self):
        self.snapshots.append({k: v.detach().clone() for k, v in self.policy.state_dict().items()})
        self.sampler.load(self.snapshots[0])  # ``stale`` steps old once the queue is full

    def rl_step(self) -> dict:
        cfg, dev = self.cfg, self.dev
        G, n = cfg.prompts_per_step, cfg.samples_per_prompt
        self.sync_sampler()
        prompts, answers = self.task.sample(self.np_rng, G)
        prompts, answers = [p for p in prompts for _ in range(n)], [a for a in answers for _ in range(n)]
        ids, pmask = self.encode(prompts)  # [B, P]
        t0 = time.perf_counter()
        ro = generate(self.sampler.model, ids, pmask, cfg.max_new_tokens, stop_ids=self.tok.stop_ids,
                      pad_id=self.tok.pad_id, topk=TOPK if needs_topk(self.method) else 0,
                      seed=cfg.seed * 1_000_003 + self.step)
        t_sample = time.perf_counter() - t0
        rewards = self.task.reward(answers, self.responses(ro))  # [B]
        adv = group_advantages(rewards.reshape(G, n), std_normalize=cfg.std_normalize)
        adv_tok = torch.as_tensor(adv.reshape(-1), dtype=torch.float32, device=dev)[:, None].expand_as(ro.logp_mu)
        group_ids = np.repeat(np.arange(G), n)
        st, gnorms, losses, finite = Stats(), [], [], True
        t0 = time.perf_counter()
        for _ in range(cfg.epochs):
            for groups in np.array_split(self.np_rng.permutation(G), cfg.minibatches):
                rows = np.flatnonzero(np.isin(group_ids, groups))
                loss, gn, ok = self.update(ro, torch.as_tensor(rows, device=dev), adv_tok, group_ids[rows], st)
                losses.append(loss)
                gnorms.append(gn)
                finite &= ok
        t_train = time.perf_counter() - t0
        n_tok = int(ro.mask.sum())
        m = {"step": self.step, "reward/mean": float(rewards.mean()),
             "response/length_mean": n_tok / len(prompts), "loss/mean": float(np.mean(losses)),
             "grad/norm_mean": float(np.mean(gnorms)), "entropy/mean": st.mean("entropy"),
             "adv/frac_zero_groups": float((np.abs(adv).sum(1) == 0).mean()),
             "perf/sample_tokens_per_s": n_tok / t_sample, "perf/train_tokens_per_s": cfg.epochs * n_tok / t_train,
             "finite": finite}
        return finalize(st, m)

    def update(self, ro, rows, adv_tok, group_ids, st: Stats):
        cfg = self.cfg
        mask, logp_mu, adv = ro.mask[rows], ro.logp_mu[rows], adv_tok[rows]  # [b, A]
        logp, logp_all = response_logp(self.policy, ro, rows)  # [b, A], [b, A, V]
        topk = {"topk_ids": ro.topk_ids[rows], "topk_logp_mu": ro.topk_logp_mu[rows]} if ro.topk_ids is not None else {}
        u = loss_and_weights(self.method, logp, logp_mu, adv, mask, agg=cfg.agg, params=cfg.params,
                             extras_kw={"logp_all": logp_all, **topk},
                             agg_kw=aggregation_kwargs(cfg.agg, horizon=cfg.max_new_tokens, group_ids=group_ids))
        self.opt.zero_grad(set_to_none=True)
        logp.backward(u.grad)
        gn = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip))
        ok = u.finite and math.isfinite(gn)
        if ok:
            self.opt.step()
        with torch.no_grad():
            token_stats(st, logp.detach(), logp_mu, adv, u.weight, mask)
            st.add("entropy", -(logp_all.exp() * logp_all).sum(-1)[mask])
        return u.loss.item(), gn, ok


def supervised_warmup(model, tok, task: TextTask, *, steps: int, lr: float = 3e-3, batch: int = 64,
                      seed: int = 0, stop_text: str = "\n"):
    """Teacher-forced cross-entropy on ``prompt → answer + line break`` (a warm start for tiny
    random models, so GRPO groups have mixed rewards); returns the final batch's token accuracy."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    dev = next(model.parameters()).device
    acc = 0.0
    for _ in range(steps):
        prompts, answers = task.sample(rng, batch)
        ids, pmask = left_pad([tok.encode(p) for p in prompts], tok.pad_id, dev)
        targets = [tok.encode(a + stop_text) for a in answers]
        A = max(map(len, targets))
        tokens = torch.full((batch, A), tok.pad_id, dtype=torch.long)
        for i, t in enumerate(targets):
            tokens[i, :len(t)] = torch.as_tensor(t)
        mask = tokens != tok.pad_id
        ro = LMRollout(ids, pmask, tokens.to(dev), mask.to(dev), torch.zeros(tokens.shape, device=dev))
        logp, logp_all = response_logp(model, ro)  # [b, A]
        loss = -(logp * ro.mask).sum() / ro.mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = float((logp_all.argmax(-1) == ro.tokens)[ro.mask].float().mean())
    return acc


def run(cfg: LMConfig, out_dir, build, *, resume=False, progress=True, stop_after=None, max_seconds=None) -> dict:
    """Train one run into ``out_dir`` (metrics.jsonl, config.json, ckpt.pt)."""
    return LMRun(cfg, out_dir, build, progress=progress).train(resume=resume, stop_after=stop_after,
                                                               max_seconds=max_seconds)


__all__ = ["LMConfig", "LMRun", "run", "read_metrics"]
