"""Atomic checkpoints and the RNG state a bitwise resume needs.

A checkpoint is written to a temporary file in the same folder and moved into place with
``os.replace`` (atomic on POSIX), so a kill mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def save_atomic(obj, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    path = Path(path)
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] < step]
    path.write_text("".join(ln + "\n" for ln in keep))
