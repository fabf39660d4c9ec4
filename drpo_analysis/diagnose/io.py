"""Read and write logged rollouts: per-token arrays with verl's column names.

Formats (by extension):

* ``.pt``  — a dict of [B, T] tensors (a saved verl batch); loaded with ``mmap=True``;
* ``.npz`` — numpy arrays [B, T]; each member is read as a byte stream, rows at a time;
* ``.parquet`` — one row per response, list columns (pyarrow, record batches);
* ``.jsonl`` — one JSON object per response with list values (one line at a time).

:func:`iter_chunks` yields blocks of at most ``rows`` responses as ``{name: array [b, T, ...]}``
so that memory stays bounded whatever the file size. Columns are renamed to the canonical names
through ``columns`` (``{canonical: name in the file}``).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

# Canonical (verl) column names. Required: log μ, log π, mask; the others are optional.
REQUIRED = ("old_log_probs", "rollout_log_probs", "response_mask")
OPTIONAL = ("advantages", "responses", "ref_log_prob", "rollout_topk_ids", "rollout_topk_log_probs",
            "old_topk_log_probs", "exact_tv", "exact_kl", "exact_kl_reverse")
CANONICAL = REQUIRED + OPTIONAL
FORMATS = (".pt", ".npz", ".parquet", ".jsonl")
# Positions per block for the [B, T] formats: rows per block = min(rows, BLOCK_TOKENS // T), so a
# block's arrays and per-token temporaries stay bounded however long the responses are.
BLOCK_TOKENS = 1 << 19


class RolloutFormatError(ValueError):
    """The file cannot be read as rollouts (format, missing column, shapes): one-line message."""


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    if s not in FORMATS:
        raise RolloutFormatError(f"{path}: unsupported extension {s or '(none)'!r}; expected one of "
                                 f"{', '.join(FORMATS)}")
    return s


# ------------------------------------------------------------------------------------ writing

def write(path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``{name: [B, T, ...]}`` in the format of ``path``'s extension."""
    path = Path(path)
    kind = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
    elif kind == ".pt":
        import torch
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, path)
    elif kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table({k: [row.tolist() for row in np.asarray(v)] if np.asarray(v).ndim > 1
                                 else np.asarray(v) for k, v in arrays.items()}), path)
    else:
        with open(path, "w") as fh:
            n = len(next(iter(arrays.values())))
            for i in range(n):
                fh.write(json.dumps({k: _json_value(v[i]) for k, v in arrays.items()}) + "\n")
    return path


def _json_value(v):
    v = np.asarray(v)
    if v.dtype.kind == "f":
        return [_json_float(x) for x in v.tolist()] if v.ndim == 1 else [_json_value(x) for x in v]
    return v.tolist()


def _json_float(x):
    return x if np.isfinite(x) else ("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))


# ------------------------------------------------------------------------------------ reading

def iter_chunks(path, *, rows: int = 4096, columns: Mapping[str, str] | None = None) -> Iterator[dict]:
    """Blocks of at most ``rows`` responses: ``{canonical name: array [b, T, ...]}``.

    Only canonical columns present in the file are read. Raises :class:`RolloutFormatError` when a
    required column is missing or shapes disagree.
    """
    path = Path(path)
    kind = _suffix(path)
    if not path.exists():
        raise RolloutFormatError(f"{path}: no such file")
    names = {c: (columns or {}).get(c, c) for c in CANONICAL}         # canonical → name in file
    reader = {".npz": _iter_npz, ".pt": _iter_pt, ".parquet": _iter_parquet, ".jsonl": _iter_jsonl}[kind]
    try:
        for block in reader(path, names, rows):
            yield _check_block(path, block)
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise RolloutFormatError(f"{path}: cannot read as {kind}: {exc}") from None


def _check_block(path, block):
    missing = [c for c in REQUIRED if c not in block]
    if missing:
        raise RolloutFormatError(f"{path}: missing column(s) {', '.join(missing)} (map other names with "
                                 "--columns canonical=name)")
    shape = block["response_mask"].shape
    for k, v in block.items():
        if k.startswith("_"):
            continue
        if v.shape[:2] != shape[:2]:
            raise RolloutFormatError(f"{path}: column {k} has shape {list(v.shape)}, response_mask "
                                     f"{list(shape)}; per-token columns must be [B, T]")
    return block


def _npy_stream(zf: zipfile.ZipFile, member: str):
    fh = zf.open(member)
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    if fortran and len(shape) > 1:
        raise RolloutFormatError(f"{member}: Fortran-ordered arrays are not supported")
    return fh, shape, dtype


def _iter_npz(path, names, rows):
    with zipfile.ZipFile(path) as zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        streams = {}
        for canon, name in names.items():
            if name in members:
                streams[canon] = _npy_stream(zf, members[name])
        if not streams:
            yield {}
            return
        shape0 = streams[next(iter(streams))][1]
        B = shape0[0] if shape0 else 0
        rows = _rows_for(rows, shape0)
        for b0 in range(0, B, rows):
            b = min(rows, B - b0)
            block = {}
            for canon, (fh, shape, dtype) in streams.items():
                per_row = int(np.prod(shape[1:], dtype=np.int64))
                raw = fh.read(b * per_row * dtype.itemsize)
                block[canon] = np.frombuffer(raw, dtype=dtype).reshape((b,) + tuple(shape[1:]))
            yield block


def _iter_pt(path, names, rows):
    import torch
    try:
        data = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError:   # legacy (non-zip) serialisation cannot be memory-mapped
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a format problem here
            raise RolloutFormatError(f"{path}: not a dict of tensors loadable with weights_only=True "
                                     f"({type(exc).__name__}); save `{{name: tensor}}` with torch.save") from None
    except Exception as exc:  # noqa: BLE001
        raise RolloutFormatError(f"{path}: not a dict of tensors loadable with weights_only=True "
                                 f"({type(exc).__name__}); save `{{name: tensor}}` with torch.save") from None
    if hasattr(data, "batch"):   # a verl DataProto
        data = dict(data.batch.items())
    if not isinstance(data, Mapping):
        raise RolloutFormatError(f"{path}: expected a dict of tensors, got {type(data).__name__}")
    cols = {c: data[n] for c, n in names.items() if n in data}
    if not cols:
        yield {}
        return
    first = next(iter(cols.values()))
    B = len(first)
    rows = _rows_for(rows, tuple(first.shape))
    for b0 in range(0, B, rows):
        yield {c: _to_numpy(v[b0:b0 + rows]) for c, v in cols.items()}


def _rows_for(rows: int, shape: tuple) -> int:
    T = int(shape[1]) if len(shape) > 1 else 1
    return max(1, min(rows, BLOCK_TOKENS // max(T, 1)))


def _to_numpy(t):
    import torch
    if not isinstance(t, torch.Tensor):
        return np.asarray(t)
    if t.dtype == torch.bfloat16 or t.dtype == torch.float16:
        t = t.float()
    return t.numpy()


def _iter_parquet(path, names, rows):
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(path)
    present = {c: n for c, n in names.items() if n in pf.schema_arrow.names}
    if not present:
        yield {}
        return
    for batch in pf.iter_batches(batch_size=rows, columns=list(present.values())):
        yield _pad_rows({c: batch.column(n).to_pylist() for c, n in present.items()})


def _iter_jsonl(path, names, rows):
    buf: dict[str, list] = {}
    n = 0
    with open(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RolloutFormatError(f"{path}: line {line_no} is not JSON: {exc.msg}") from None
            for c, name in names.items():
                if name in obj:
                    buf.setdefault(c, []).append(obj[name])
            n += 1
            if n == rows:
                yield _pad_rows(buf)
                buf, n = {}, 0
    if n or not buf:
        yield _pad_rows(buf)


def _pad_rows(cols: dict[str, list]) -> dict[str, np.ndarray]:
    """Lists of per-response lists → arrays [b, T, ...] padded with 0 (mask 0 beyond each length);
    a missing ``response_mask`` is taken as 1 over each response's length."""
    out = {}
    lengths = None
    for c, values in cols.items():
        if values and not isinstance(values[0], (list, tuple, np.ndarray)):
            out[c] = np.asarray(values)   # a per-response scalar (e.g. an advantage per response)
            continue
        T = max((len(v) for v in values), default=0)
        lengths = [len(v) for v in values] if lengths is None else lengths
        sample = next((v[0] for v in values if len(v)), 0.0)
        inner = np.shape(sample)
        arr = None
        for i, v in enumerate(values):
            a = np.asarray([_from_json(x) for x in v] if not inner else v, dtype=np.float64 if not inner else None)
            if arr is None:
                arr = np.zeros((len(values), T) + inner, dtype=a.dtype if a.size else np.float64)
            arr[i, :len(v)] = a
        out[c] = arr if arr is not None else np.zeros((0, 0))
    if "response_mask" in cols and lengths is not None:
        # the mask list must be as long as the data lists of its response
        mlen = np.array([len(v) for v in cols["response_mask"]])
        ragged = np.zeros(len(mlen), bool)
        for c, values in cols.items():
            if c != "response_mask" and values and isinstance(values[0], (list, tuple)):
                ragged |= np.array([len(v) for v in values]) != mlen
        out["_ragged"] = ragged
    if "response_mask" not in out and lengths is not None:
        T = max(lengths, default=0)
        out["response_mask"] = (np.arange(T)[None, :] < np.asarray(lengths)[:, None]).astype(np.int8)
    for c in ("advantages",):   # a per-response advantage broadcasts over its tokens
        if c in out and out[c].ndim == 1 and "response_mask" in out:
            out[c] = out[c][:, None] * out["response_mask"]
    return out


def _from_json(x):
    if x is None:          # a missing value (JSON null) is not a number: linted as non-finite
        return np.nan
    if isinstance(x, str):
        return {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}.get(x, np.nan)
    return x
