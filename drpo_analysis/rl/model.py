"""A small decoder-only transformer (GPT-2 layout: learned positions, pre-norm blocks) with
KV-cache decoding. Hand-written so the whole model is readable in one screen; sized by
:class:`ModelConfig` from ~0.1M parameters (CPU) to tens of millions (GPU).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


KVCache = list  # one (k, v) pair per layer, each [B, H, T_cached, D/H]


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 16
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 4
    max_len: int = 32

    def validate(self) -> "ModelConfig":
        for name in ("vocab_size", "d_model", "n_layer", "n_head", "max_len"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"model.{name} must be a positive integer, got {v!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"model.d_model ({self.d_model}) must be divisible by model.n_head ({self.n_head})")
        return self

    def as_dict(self):
        return asdict(self)


class Block(nn.Module):
    """Pre-norm block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, cache=None):  # x: [B, T, d]
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # decoding: attend to every cached position (no mask needed)
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)  # [B, H, T, d/H]
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp(self.ln2(x)), (k, v)


class TinyGPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.n_head) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2L)
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, cache: KVCache | None = None):
        """idx: [B, T] token ids → logits [B, T, V] and the updated cache.

        Without ``cache`` the attention is causal over ``idx`` (training, prefill); with it, ``idx``
        continues the cached sequence (decoding, usually T = 1).
        """
        B, T = idx.shape
        start = 0 if cache is None else cache[0][0].shape[2]
        if start + T > self.cfg.max_len:
            raise ValueError(f"sequence length {start + T} exceeds model.max_len {self.cfg.max_len}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.tok(idx) + self.pos(pos)  # [B, T, d]
        new_cache = []
        for i, blk in enumerate(self.blocks):
            x, kv = blk(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.head(self.ln_f(x)), new_cache  # [B, T, V]


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Forward matmul FLOPs per token (2 per multiply-add): 24·L·d² for the projections and MLP,
    4·L·T·d for attention scores and values at context T, 2·d·V for the head (Kaplan et al. 2020)."""
    d, L = cfg.d_model, cfg.n_layer
    return 24 * L * d * d + 4 * L * seq_len * d + 2 * d * cfg.vocab_size


def num_params_of(cfg: ModelConfig) -> int:
    d, L, V = cfg.d_model, cfg.n_layer, cfg.vocab_size
    return V * d + cfg.max_len * d + L * (12 * d * d + 13 * d) + 2 * d + d * V
