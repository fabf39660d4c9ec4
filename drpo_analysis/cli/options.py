"""Command-line options generated from configuration dataclasses, so every default lives once.

:func:`add_fields` adds ``--field-name`` for each named field of a dataclass: its type and its
default come from the dataclass, the help text from the command, and ``--help`` shows the
default. The parsed value is ``None`` unless the option was given, so :func:`given` returns
exactly what the command line sets (what a resumed run must agree with, or what overrides a
preset such as ``--smoke``).
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterable

_MISSING = dataclasses.MISSING


def field_default(cls, name: str) -> Any:
    f = cls.__dataclass_fields__[name]
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    raise ValueError(f"{cls.__name__}.{name} has no default")


def _scalar_type(hint) -> type:
    """``int | None`` → int, ``float`` → float, ..."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return hint


def _show(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"     # as the --flag / --no-flag pair reads
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def add_fields(parser, cls, helps: dict[str, str], *, flags: dict[str, str] | None = None,
               choices: dict[str, Iterable] | None = None, default_note: dict[str, str] | None = None) -> None:
    """One option per key of ``helps`` (field names of ``cls``, in that order).

    flags: option spelling when it is not ``--field-name``; choices: accepted values shown in
    --help; default_note: text appended to the default (e.g. how a preset changes it).
    """
    hints = typing.get_type_hints(cls)
    for name, text in helps.items():
        typ = _scalar_type(hints[name])
        default = field_default(cls, name)
        note = (default_note or {}).get(name, "")
        kw: dict[str, Any] = {"dest": name, "default": None,
                              "help": f"{text} (default: {_show(default)}{note})"}
        if typ is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = typ
            kw["metavar"] = {int: "INT", float: "X"}.get(typ, "TEXT")
        if choices and name in choices:
            kw["choices"] = tuple(choices[name])
            kw.pop("metavar", None)
        parser.add_argument((flags or {}).get(name, "--" + name.replace("_", "-")), **kw)


def given(args, names: Iterable[str]) -> dict[str, Any]:
    """The fields among ``names`` that the command line set."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
