"""Load a framework's loss files by path, without running its package ``__init__`` (which, in
the RL stacks, imports GPU libraries, inference engines, config systems and schedulers).

:func:`load_files` executes the given files as modules under their *own* import names for the
duration of the load, so that their absolute imports of one another resolve
(``from skyrl.backends.skyrl_train.utils.torch_utils import masked_mean``); every other name they
import from the framework is a *shim*: a stand-in module holding only the names the loss code
reads (a config class used as a type annotation, an estimator only used for logging). After the
load ``sys.modules`` is restored (a stand-in left behind would break other importers); the
loaded modules are kept under a private prefix, so a second load is free.

The shims are the adapter's declaration of what it does not run: each framework adapter lists
them in its module docstring.
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import sys
import types
from pathlib import Path
from typing import Mapping, Sequence


def package_root(dist: str, top: str, pinned: str) -> Path:
    """The folder of the installed top-level package ``top`` of distribution ``dist``;
    ImportError naming the pinned version if it is not installed."""
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{dist} is not installed (pip install --no-deps {dist}=={pinned}; make conformance)")
    return Path(list(spec.submodule_search_locations)[0])


def installed_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def shim(name: str, **attrs) -> types.ModuleType:
    """A stand-in module ``name`` with ``attrs`` (a package, so submodules can hang below it)."""
    mod = types.ModuleType(name)
    mod.__path__ = []
    mod.__dict__.update(attrs)
    return mod


def load_files(private: str, root: Path, files: Sequence[tuple[str, str]],
               shims: Mapping[str, types.ModuleType] = {}) -> dict[str, types.ModuleType]:
    """Execute ``files`` ((import name, path relative to ``root``), in dependency order) with
    ``shims`` and the loaded files visible under their import names; return {import name: module}.
    Cached under ``private``."""
    cached = {name: sys.modules.get(f"{private}.{name}") for name, _ in files}
    if all(m is not None for m in cached.values()):
        return cached
    names = [n for n, _ in files] + list(shims)
    parents = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    saved = {n: sys.modules.get(n) for n in set(names) | parents}
    try:
        for p in sorted(parents - set(shims) - {n for n, _ in files}):
            sys.modules[p] = shim(p)           # empty parents: never run the framework's __init__
        sys.modules.update(shims)
        out = {}
        for name, rel in files:
            spec = importlib.util.spec_from_file_location(name, root / rel)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            out[name] = mod
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    for name, mod in out.items():
        sys.modules[f"{private}.{name}"] = mod
    return out
