"""Input validation shared by every public function.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument and the
accepted range, so a user sees at once which input is wrong.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def as_float_array(name: str, value: Any, *, allow_neg_inf: bool = False,
                   upper: float | None = None, lower: float | None = None,
                   check_values: bool = True) -> np.ndarray:
    """Convert ``value`` to a float ndarray and check it is finite and within [lower, upper].

    ``allow_neg_inf`` admits ``-inf`` (a log-probability of an impossible token).
    ``check_values=False`` checks only the type; the caller then runs :func:`values_in_range`
    itself (per chunk, inside a kernel loop).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number or array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds here
        raise TypeError(f"{name} must be array-like of real numbers ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if check_values:
        values_in_range(name, arr, allow_neg_inf=allow_neg_inf, upper=upper, lower=lower)
    return arr


def values_in_range(name: str, arr: np.ndarray, *, allow_neg_inf: bool = False,
                    upper: float | None = None, lower: float | None = None) -> None:
    """Value checks of :func:`as_float_array` (no NaN, no +inf, ``-inf`` only if allowed, inside
    [lower, upper]) from two read-only reductions: min and max propagate NaN, so this is cheap
    enough to run per cache-sized chunk inside a kernel loop."""
    if arr.size == 0:
        return
    hi = float(arr.max())   # Python floats: comparing a float16 scalar with 1e150 would overflow
    lo = -np.inf if allow_neg_inf and lower is None else float(arr.min())
    # fast path: one chained comparison (False for NaN, which min/max propagate)
    if (-np.inf if allow_neg_inf else -np.finfo(np.float64).max) <= lo and hi < np.inf \
            and (upper is None or hi <= upper) and (lower is None or lo >= lower):
        return
    if np.isnan(hi) or np.isnan(lo):
        raise ValueError(f"{name} contains NaN; mask such positions out instead")
    if hi == np.inf or (lo == -np.inf and not allow_neg_inf):
        allowed = "finite or -inf" if allow_neg_inf else "finite"
        raise ValueError(f"{name} must be {allowed}; found infinite values")
    if upper is not None and hi > upper:
        raise ValueError(f"{name} must be <= {upper}; max is {float(hi)!r}")
    if lower is not None and lo < lower:
        raise ValueError(f"{name} must be >= {lower}; min is {float(lo)!r}")


def same_shape(**arrays: Any) -> tuple[int, ...]:
    """Require every named array to have the same shape (no silent broadcasting)."""
    shapes = {k: tuple(np.shape(v)) for k, v in arrays.items() if v is not None}
    distinct = set(shapes.values())
    if len(distinct) > 1:
        desc = ", ".join(f"{k}{list(s)}" for k, s in shapes.items())
        raise ValueError(f"shape mismatch: {desc}; all must have the same shape")
    return next(iter(distinct)) if distinct else ()


def real_scalar(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Check a scalar parameter is a finite real number inside the stated interval."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low}"
        ub = "inf" if high is None else f"{high}"
        raise ValueError(f"{name} must lie in {'(' if low_open or low is None else '['}{lb}, {ub}"
                         f"{')' if high_open or high is None else ']'}, got {v}")
    return v


def choice(name: str, value: Any, options) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(options)}; got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(options)}")
    return value


def array_namespace(x):
    """The array module of ``x``: numpy for arrays and scalars, torch for tensors.

    Code written against this namespace serves the float64 numpy reference and torch tensors.
    """
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np
    import torch  # only reached with torch tensors
    return torch
