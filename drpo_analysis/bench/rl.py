"""RL harness benchmarks (group "rl"): tokens/s of the default CPU model, each as a ratio of
achieved FLOP/s against a matmul of matching shape measured in the same run, and against a
``transformers`` GPT-2 of identical configuration on the same batch (skipped with a message when
transformers is not installed).

FLOPs per token follow Kaplan et al. (2020): forward ``2·N_matmul + 4·L·T·d`` (see
:func:`drpo_analysis.rl.model.flops_per_token`), training 3× forward (backward = 2× forward).
"""
from __future__ import annotations

import numpy as np
import torch

from drpo_analysis.bench.timing import benchmark, best_time, measure
from drpo_analysis.rl import tasks
from drpo_analysis.rl.model import ModelConfig, TinyGPT, flops_per_token
from drpo_analysis.rl.rollout import generate

TASK = tasks.get("add")  # the repro task: prompt 6, answer 4 tokens


def _batch(B):
    p, a = TASK.sample(np.random.default_rng(0), B)
    return torch.as_tensor(p), torch.cat([torch.as_tensor(p), torch.as_tensor(a)], 1)


def _train_step(model, opt, seq):
    logits = model(seq[:, :-1])
    logits = logits[0] if isinstance(logits, tuple) else logits.logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _hf_model(cfg: ModelConfig):
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        return None
    hf = GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.max_len, n_embd=cfg.d_model, n_layer=cfg.n_layer,
                    n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=False,
                    bos_token_id=None, eos_token_id=None)
    return GPT2LMHeadModel(hf)


@torch.no_grad()
def _hf_generate(model, prompts, n):
    """Greedy decoding with the KV cache (``cache=`` in transformers ≥ 5, ``past_key_values=`` before)."""
    import inspect

    kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out = model(prompts, use_cache=True)
    tok = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(n - 1):
        out = model(tok, use_cache=True, **{kw: getattr(out, kw, None) or out.past_key_values})
        tok = out.logits[:, -1].argmax(-1, keepdim=True)


def _interleaved(fns: dict, *, repeat: int, number: int = 3) -> dict:
    """Best time of each function, measured alternately so load changes hit all of them alike."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            best[k] = min(best[k], best_time(fn, repeat=1, number=number))
    return best


@benchmark("rl_model_tokens_per_s", group="rl")
def bench_model(*, quick=False):
    """Default CPU model on one thread (tiny matmuls; no spin-waiting on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _bench_model(quick)
    finally:
        torch.set_num_threads(threads)


def _bench_model(quick):
    cfg = ModelConfig()
    B = 32 if quick else 128
    repeat = 2 if quick else 5
    torch.manual_seed(0)
    model = TinyGPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    prompts, seq = _batch(B)
    T = seq.shape[1] - 1
    mm_train = (torch.randn(B * T, cfg.d_model), torch.randn(cfg.d_model, 4 * cfg.d_model))
    mm_sample = (torch.randn(B, cfg.d_model), torch.randn(cfg.d_model, 4 * cfg.d_model))
    fns = {"train": lambda: _train_step(model, opt, seq),
           "sample": lambda: generate(model.eval(), prompts, TASK.answer_len, greedy=True),
           "mm_train": lambda: torch.mm(*mm_train), "mm_sample": lambda: torch.mm(*mm_sample)}
    hf = _hf_model(cfg)
    if hf is not None:
        hf_opt = torch.optim.AdamW(hf.parameters(), lr=1e-4)
        fns |= {"hf_train": lambda: _train_step(hf.train(), hf_opt, seq),
                "hf_sample": lambda: _hf_generate(hf.eval(), prompts, TASK.answer_len)}
    t = _interleaved(fns, repeat=repeat)
    train_tok, sample_tok = B * T / t["train"], B * TASK.answer_len / t["sample"]
    train_flops = 3 * flops_per_token(cfg, T) * train_tok
    sample_flops = flops_per_token(cfg, seq.shape[1]) * B * seq.shape[1] / t["sample"]
    floor_train = 2 * B * T * cfg.d_model * 4 * cfg.d_model / t["mm_train"]
    floor_sample = 2 * B * cfg.d_model * 4 * cfg.d_model / t["mm_sample"]
    shape = f"{model.num_params() / 1e6:.2f}M params, batch {B}×{T}, 1 thread"
    rows = [measure("rl train FLOP/s vs matmul [B·T,d]x[d,4d]", train_flops, "FLOP/s", floor_train, ">= 0.25",
                    detail=f"{train_tok:,.0f} train tokens/s; {shape}"),
            measure("rl sample FLOP/s vs matmul [B,d]x[d,4d]", sample_flops, "FLOP/s", floor_sample, ">= 0.25",
                    detail=f"{sample_tok:,.0f} sampled tokens/s (KV cache, greedy); {shape}")]
    if hf is None:
        msg = "skipped: transformers not installed (pip install transformers)"
        return rows + [measure("rl train tokens/s vs transformers GPT-2", None, "tokens/s", None, ">= 1.0", detail=msg),
                       measure("rl sample tokens/s vs transformers GPT-2", None, "tokens/s", None, ">= 1.0", detail=msg)]
    return rows + [measure("rl train tokens/s vs transformers GPT-2", train_tok, "tokens/s", B * T / t["hf_train"],
                           ">= 1.0", detail="identical config, same batch, AdamW step included"),
                   measure("rl sample tokens/s vs transformers GPT-2", sample_tok, "tokens/s",
                           B * TASK.answer_len / t["hf_sample"], ">= 1.0",
                           detail="identical config, same prompts, greedy with KV cache in both")]
