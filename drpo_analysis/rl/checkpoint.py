"""Atomic checkpoints and the RNG state a bitwise resume needs.

A checkpoint is written atomically (:func:`drpo_analysis.util.io.atomic_open`: a temporary file in
the same folder moved into place with ``os.replace``), so a kill mid-write leaves the previous
checkpoint intact.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from drpo_analysis.util import io


def save_atomic(obj, path) -> Path:
    with io.atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def load(path, device="cpu"):
    return torch.load(path, map_location=device, weights_only=False)


def rng_state(np_rng: np.random.Generator, generators: dict[str, torch.Generator]) -> dict:
    """Every random state a run draws from (numpy, named torch generators, global torch, random)."""
    return {"numpy": np_rng.bit_generator.state,
            "torch": {k: g.get_state() for k, g in generators.items()},
            "torch_global": torch.get_rng_state(), "python": random.getstate()}


def restore_rng(state: dict, np_rng: np.random.Generator, generators: dict[str, torch.Generator]) -> None:
    np_rng.bit_generator.state = state["numpy"]
    for k, g in generators.items():
        g.set_state(state["torch"][k])
    torch.set_rng_state(state["torch_global"])
    random.setstate(state["python"])


def truncate_metrics(path, step: int) -> None:
    """Keep only the JSONL metric lines of steps < ``step`` (those written before the checkpoint)."""
    if Path(path).exists():   # a torn last line is reported and dropped (util.io.read_jsonl)
        io.rewrite_jsonl(path, [r for r in io.read_jsonl(path) if r["step"] < step])
