"""Run folders of the training commands (``rl``, ``lmrl``): a new run never overwrites one, and
``--resume`` continues the configuration recorded in it.

A run folder holds ``config.json`` (written when training starts), ``metrics.jsonl`` and, after
the first checkpoint, ``ckpt.pt``. Both checks here only read the folder, so a refused command
leaves it exactly as it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from drpo_analysis.util import io

RUN_FILES = ("config.json", "metrics.jsonl", "ckpt.pt")


def check_new(out: Path) -> None:
    """A usage error when ``out`` already holds a run (what ``--resume`` is for)."""
    from drpo_analysis.cli import UsageError

    if any((Path(out) / f).exists() for f in RUN_FILES):
        raise UsageError(f"{out}: already holds a run; pass --resume to continue it or another --out")


def resumed_config(out: Path, cls, over: dict[str, Any], *, preset: Callable[..., Any] | None = None,
                   same: dict[str, Callable[[str], Any]] | None = None):
    """The configuration recorded in ``out/config.json``, once the command line agrees with it.

    cls: the configuration dataclass (with ``validate()`` and ``as_dict()``); over: the fields the
    command line set; preset: when a preset was chosen (``--smoke``), the function building the
    requested configuration from ``over`` (every field of the preset then counts as given);
    same: per field, a parser under which two spellings mean the same value. A disagreement is a
    usage error naming each differing field (recorded and requested values).
    """
    from drpo_analysis.cli import UsageError
    from drpo_analysis.rl.trainer import differences

    path = Path(out) / "config.json"
    if not path.exists():
        raise UsageError(f"{out}: no config.json, so not a run folder to resume (drop --resume to start a run)")
    try:
        cfg = cls(**io.read_json(path)).validate()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{path}: not a valid run configuration ({str(exc).splitlines()[0]})") from None
    over = dict(over)
    try:
        for name, parse in (same or {}).items():
            if name in over and parse(over[name]) == parse(getattr(cfg, name)):
                over[name] = getattr(cfg, name)   # the same value, spelt differently
        if preset is not None:
            requested = preset(**over)
        else:
            if "params" in over:
                over["params"] = cfg.params | over["params"]
            requested = cls(**(cfg.as_dict() | over))
        requested = requested.validate()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--resume: {str(exc).splitlines()[0]}") from None
    diffs = differences(cfg.as_dict(), requested.as_dict())
    if diffs:
        raise UsageError(f"--resume: the options disagree with {path}: {'; '.join(diffs)}")
    return cfg
