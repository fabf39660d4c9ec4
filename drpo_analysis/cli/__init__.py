"""The ``drpo-analysis`` command.

Every sub-command lives in ``drpo_analysis/cli/commands/<name>.py`` and exposes

* ``HELP`` (one line) and ``DESCRIPTION`` (the ``--help`` text),
* ``add_arguments(parser)``,
* ``run(args) -> Result`` (payload for ``--json``, a readable text, an exit code).

Contract (docs/design.md#command-line-contract): a readable table by default, exactly one JSON
object on stdout with ``--json``; exit code 0 on success, 1 when a check fails, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from drpo_analysis.util.io import PathError

COMMANDS = ("methods", "prove", "audit", "fuzz", "simulate", "rl", "lmrl", "rollouts", "diagnose", "repro", "figures",
            "bench", "demo")


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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's help ends with its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default is argparse.SUPPRESS:
            return text
        d = action.default
        shown = "off" if d is False else "none" if d in (None, []) else "%(default)s"
        return f"{text} (default: {shown})".strip()


class _Parser(argparse.ArgumentParser):
    """argparse with errors on ONE line (no usage block); an unknown option lists the accepted ones."""

    def error(self, message):
        message = message.replace("\r", "\\r").replace("\n", "\\n")   # stays one line whatever was typed
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_args(self, args=None, namespace=None):
        args, extra = self.parse_known_args(args, namespace)
        if extra:
            leaf = _leaf_parser(self, args)
            accepted = sorted({s for a in leaf._actions for s in a.option_strings if s.startswith("--")})
            leaf.error(f"unrecognized arguments: {' '.join(extra)}; accepted options: {', '.join(accepted)}")
        return args


def _leaf_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub-)sub-command parser that ``args`` came through."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        chosen = getattr(args, subs[0].dest, None) if subs else None
        if chosen not in (subs[0].choices if subs else {}):
            return parser
        parser = subs[0].choices[chosen]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, the options of that command alone (the others keep their
    one-line help), so a command does not import what the others need (torch, sympy)."""
    parser = _Parser(
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
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, formatter_class=HelpFormatter)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        if only is None or only == name:
            mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args._module.run(args)
    except (UsageError, PathError) as exc:
        raise SystemExit(_usage_error(args.command, exc)) from None  # as argparse does for its errors
    except (ValueError, TypeError) as exc:
        # Validation errors of the public API are usage errors at the command line.
        return _usage_error(args.command, exc)
    except OSError as exc:
        # a file the command could not read or write (the path checks catch most before any work)
        where = f"{exc.filename}: " if exc.filename else ""
        return _usage_error(args.command, f"{where}{exc.strerror or exc}")
    if args.json:
        print(json.dumps(result.payload, default=_json_default))
    elif result.text:
        print(result.text)
    return result.exit_code


def _usage_error(command: str, exc) -> int:
    """One line on stderr, exit code 2."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"drpo-analysis {command}: error: {text}", file=sys.stderr)
    return 2


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
