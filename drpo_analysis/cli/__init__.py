"""The ``drpo-analysis`` command.

Every sub-command lives in ``drpo_analysis/commands/<name>.py`` and exposes

* ``HELP`` (one line) and ``DESCRIPTION`` (the ``--help`` text),
* ``add_arguments(parser)``,
* ``run(args) -> Result`` (payload for ``--json``, a readable text, an exit code).

Contract (docs/design.md#command-line-contract): a readable table by default, exactly one JSON object on stdout with
``--json``; exit code 0 on success, 1 when a check fails, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

COMMANDS = ("methods", "prove", "audit", "fuzz", "simulate", "rl", "lmrl", "repro", "figures", "bench", "demo")


@dataclass
class Result:
    payload: dict[str, Any]
    text: str = ""
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class UsageError(Exception):
    """Bad usage detected after parsing (exit code 2)."""


def parse_key_values(items: Sequence[str], what: str, *, value=float) -> dict[str, Any]:
    """``["k=v", ...]`` → ``{k: value(v)}`` for repeatable ``K=V`` options (``--param``, ...);
    a malformed item raises :class:`UsageError` naming the option."""
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"{what} expects K=V, got {item!r}")
        try:
            out[k] = value(v)
        except ValueError:
            raise UsageError(f"{what} {k}: value {v!r} is not valid ({getattr(value, '__name__', value)})") from None
    return out



def _load(name: str):
    try:
        return importlib.import_module(f"drpo_analysis.cli.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"drpo_analysis.cli.commands.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drpo-analysis",
        description="Check, simulate and demonstrate the trust-region terms of LLM RL "
                    "(PPO/GRPO clip, DPPO masks, SPO and DRPO penalties and relatives).",
        epilog="Every command takes --json (one JSON object on stdout). Exit codes: 0 ok, "
               "1 a check failed, 2 bad usage.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args._module.run(args)
    except UsageError as exc:
        parser.exit(2, f"drpo-analysis {args.command}: error: {exc}\n")
    except (ValueError, TypeError) as exc:
        # Validation errors of the public API are usage errors at the command line.
        print(f"drpo-analysis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.payload, default=_json_default))
    elif result.text:
        print(result.text)
    return result.exit_code


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
