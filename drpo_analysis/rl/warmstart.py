"""Supervised warm start: teacher-forced next-token training on (prompt, answer) pairs until the
held-out greedy accuracy first reaches a chosen level, saved as a deterministic checkpoint.

Addition shows a sharp phase transition, so the checkpoint is chosen by *measured* accuracy, not
by time: training stops at the first evaluation whose *sampled* (temperature 1, the RL reward's
sampling) held-out accuracy is ≥ ``target_acc``; RL then starts from a policy that solves part of
the task (30–80% in the repro runs). Greedy accuracy is recorded too (it runs ahead of sampled). Checkpoints are cached
under ``runs/warmstart/`` keyed by a hash of everything that determines them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from drpo_analysis.rl import checkpoint, tasks
from drpo_analysis.rl.model import ModelConfig, TinyGPT
from drpo_analysis.rl.rollout import generate

EVAL_SEED = 10_007  # held-out prompts come from their own stream, disjoint from training seeds


@dataclass(frozen=True)
class WarmConfig:
    task: str = "add"
    task_size: int | None = None
    free: int = 0
    zipf_s: float = 1.0
    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    batch: int = 128
    lr: float = 3e-3
    target_acc: float = 0.5
    max_steps: int = 4000
    eval_every: int = 5
    eval_size: int = 256

    def key(self) -> str:
        d = asdict(self)
        if not self.free:  # keys of warm starts without free-form tokens stay as they were
            d.pop("free"), d.pop("zipf_s")
        blob = json.dumps(d, sort_keys=True) + torch.__version__
        return f"{self.task}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def heldout(task: tasks.Task, n: int):
    """The fixed held-out set (prompts [n, P], answers [n, A]) of a task."""
    return task.sample(np.random.default_rng(EVAL_SEED), n)


@torch.no_grad()
def accuracy(model, task, prompts, answers, *, greedy=True, generator=None) -> float:
    """Fraction of held-out prompts answered exactly (greedy, or one sample at temperature 1)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    ro = generate(model, torch.as_tensor(prompts, device=dev), task.answer_len, greedy=greedy,
                  generator=generator)
    model.train(was_training)
    return float(task.reward(answers, ro.tokens.cpu().numpy()).mean())


def supervised_loss(model, prompts, answers):
    """Cross-entropy on the answer tokens (PAD targets ignored), teacher forcing."""
    seq = torch.cat([prompts, answers], 1)  # [B, P + A]
    logits, _ = model(seq[:, :-1])
    P = prompts.shape[1]
    tgt = seq[:, P:]  # [B, A]
    pred = logits[:, P - 1:]  # [B, A, V]
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), tgt.reshape(-1), ignore_index=tasks.PAD)


def train(cfg: WarmConfig, *, device="cpu", progress=True) -> dict:
    """Train from scratch until held-out greedy accuracy ≥ target; returns the checkpoint dict."""
    from tqdm import tqdm

    task = tasks.get(cfg.task, cfg.task_size, free=cfg.free, vocab_size=cfg.model.vocab_size, zipf_s=cfg.zipf_s)
    torch.manual_seed(cfg.seed)
    model = TinyGPT(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    rng = np.random.default_rng(cfg.seed)
    ev_p, ev_a = heldout(task, cfg.eval_size)
    ev_gen = torch.Generator(device).manual_seed(EVAL_SEED)
    curve, acc, greedy = [], 0.0, 0.0
    bar = tqdm(range(1, cfg.max_steps + 1), desc=f"warm start {cfg.task}", disable=not progress, leave=False)
    for step in bar:
        p, a = task.sample(rng, cfg.batch)
        loss = supervised_loss(model, torch.as_tensor(p, device=device), torch.as_tensor(a, device=device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % cfg.eval_every == 0:
            acc = accuracy(model, task, ev_p, ev_a, greedy=False, generator=ev_gen)
            greedy = accuracy(model, task, ev_p, ev_a, greedy=True)
            curve.append((step, loss.item(), acc, greedy))
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{acc:.2f}")
            if acc >= cfg.target_acc:
                break
    return {"model": model.state_dict(), "config": asdict(cfg), "accuracy": acc, "greedy_accuracy": greedy,
            "steps": step, "curve": curve}


def load_or_train(cfg: WarmConfig, *, root="runs", device="cpu", progress=True) -> dict:
    """The cached warm-start checkpoint for ``cfg`` (trained and saved on first use)."""
    import fcntl

    path = Path(root) / "warmstart" / f"{cfg.key()}.pt"
    if path.exists():
        return torch.load(path, map_location=device, weights_only=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:  # parallel runs of one seed: one trains, the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return torch.load(path, map_location=device, weights_only=False)
        state = train(cfg, device=device, progress=progress)
        checkpoint.save_atomic(state, path)
    return state
