"""The files every command reads and writes.

* **Path checks** (:func:`readable_file`, :func:`readable_dir`, :func:`writable_file`,
  :func:`writable_dir`): a missing, unwritable or wrong-kind path raises :class:`PathError`, whose
  text is one line naming the path and the reason. Commands call them before any long computation;
  the command line turns a :class:`PathError` into a usage error (exit code 2).
* **Atomic writes** (:func:`atomic_open`, :func:`write_text`, :func:`write_json`): the content goes
  to a temporary file in the target's folder, is flushed to disk and moved over the target with
  ``os.replace`` (atomic on POSIX), so a reader sees the old file or the new one, never a part.
* **Append-only JSON lines** (:func:`read_jsonl`, :func:`append_jsonl`): a kill or a full disk
  during an append can leave the last line cut short. Such a *torn* last line is detected, reported
  (:class:`TornLineWarning`) and dropped before anything is appended after it, so every finished
  record is kept once and the unfinished one is simply produced again.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


class PathError(Exception):
    """A path that cannot serve; ``str(exc)`` is ``"<path>: <reason>"`` on one line."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


class TornLineWarning(UserWarning):
    """A JSON-lines file ended in an unfinished line, which was dropped."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_dir(folder: Path, target: Path) -> None:
    """``folder`` (existing) can hold new files: create and drop an anonymous file in it (the
    only test that holds for root and read-only or virtual file systems such as /proc)."""
    if not folder.is_dir():
        raise PathError(target, f"{folder} is a file, expected a directory")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise PathError(target, f"cannot create files in {folder} ({_reason(exc)})") from None


def readable_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise PathError(p, "no such file")
    if p.is_dir():
        raise PathError(p, "is a directory, expected a file")
    if not os.access(p, os.R_OK):
        raise PathError(p, "not readable")
    return p


def readable_dir(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise PathError(p, "no such directory")
    if not p.is_dir():
        raise PathError(p, "is a file, expected a directory")
    return p


def writable_file(path) -> Path:
    """``path`` can be created or replaced as a file (its missing parent folders included)."""
    p = Path(path)
    if p.is_dir():
        raise PathError(p, "is a directory, expected a file")
    _probe_dir(_existing_ancestor(p.parent), p)
    return p


def writable_dir(path) -> Path:
    """``path`` is, or can be created as, a folder that accepts new files."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PathError(p, "is a file, expected a directory")
    _probe_dir(_existing_ancestor(p), p)
    return p


def ensure_dir(path) -> Path:
    """Create the folder ``path`` (and its parents) or raise :class:`PathError`."""
    p = writable_dir(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(p, f"cannot create the directory ({_reason(exc)})") from None
    return p


def _read_umask() -> int:
    mask = os.umask(0)   # the only way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_open(path, mode: str = "w", **kw) -> Iterator[Any]:
    """``with atomic_open(p, "wb") as f: ...`` writes ``p`` atomically (see the module doc)."""
    p = writable_file(path)
    ensure_dir(p.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as exc:
        raise PathError(p, f"cannot write ({_reason(exc)})") from None
    try:
        os.chmod(tmp, (p.stat().st_mode & 0o777) if p.exists() else 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PathError(p, f"cannot write ({_reason(exc)})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def write_json(path, obj, **dumps_kw) -> Path:
    return write_text(path, json.dumps(obj, **dumps_kw))


def read_text(path) -> str:
    p = readable_file(path)
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PathError(p, f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def read_json(path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PathError(path, f"not valid JSON ({exc})") from None


# ---- append-only JSON lines -----------------------------------------------------------------------
NEWLINE = b"\n"


def _split_jsonl(path: Path) -> tuple[list[dict], int, int]:
    """(records, byte length of the finished lines, byte length of the file)."""
    data = path.read_bytes()
    records, good, start = [], 0, 0
    while start < len(data):
        end = data.find(b"\n", start)
        line = data[start:] if end < 0 else data[start:end]
        try:
            rec = json.loads(line) if line.strip() else None
            complete = rec is None or isinstance(rec, dict)
        except (json.JSONDecodeError, UnicodeDecodeError):
            complete = False
        if not complete:
            if end < 0:  # the last line, cut short
                break
            line_no = data.count(NEWLINE, 0, start) + 1
            raise PathError(path, f"line {line_no} is not a JSON object "
                                  "(only the last line of an append-only file can be torn)")
        if rec is not None:
            records.append(rec)
        # a last line that is a whole JSON object but lacks its newline is finished: keep it
        good = len(data) if end < 0 else end + 1
        start = good
    return records, good, len(data)


def read_jsonl(path, *, repair: bool = False) -> list[dict]:
    """The records of a JSON-lines file (``[]`` if it does not exist). A torn last line is
    reported with :class:`TornLineWarning` and left out; with ``repair`` it is also cut off the
    file (and a finished last line missing its newline gets one), so appends can follow."""
    p = Path(path)
    if not p.exists():
        return []
    readable_file(p)
    try:
        records, good, size = _split_jsonl(p)
        if good < size:
            warnings.warn(f"{p}: dropped a torn last line ({size - good} bytes, unfinished record)",
                          TornLineWarning, stacklevel=2)
        if repair and good < size:
            os.truncate(p, good)
        if repair and good and p.read_bytes()[-1:] != b"\n":
            with p.open("ab") as f:
                f.write(b"\n")
    except OSError as exc:
        raise PathError(p, f"cannot read or repair ({_reason(exc)})") from None
    return records


def append_jsonl(path, record: dict) -> None:
    """Append one record as one line (one ``write``, flushed to disk). A torn last line left by an
    earlier writer is dropped first (see :func:`read_jsonl`)."""
    p = Path(path)
    try:
        if p.exists() and p.stat().st_size:
            with p.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
            if torn:
                read_jsonl(p, repair=True)
        else:
            ensure_dir(p.parent)
        with p.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise PathError(p, f"cannot append ({_reason(exc)})") from None


def rewrite_jsonl(path, records: list[dict]) -> None:
    """Replace the file's records atomically (e.g. cut back to a checkpoint)."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))
