"""Input validation shared by every public function.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument and the
accepted range, so a user sees at once which input is wrong.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def as_float_array(name: str, value: Any, *, allow_neg_inf: bool = False,
                   upper: float | None = None, lower: float | None = None) -> np.ndarray:
    """Convert ``value`` to a float ndarray and check it is finite and within [lower, upper].

    ``allow_neg_inf`` admits ``-inf`` (a log-probability of an impossible token).
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
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; mask such positions out instead")
    bad_inf = np.isposinf(arr) | (np.isneginf(arr) if not allow_neg_inf else False)
    if np.any(bad_inf):
        allowed = "finite or -inf" if allow_neg_inf else "finite"
        raise ValueError(f"{name} must be {allowed}; found infinite values")
    if upper is not None and np.any(arr > upper):
        raise ValueError(f"{name} must be <= {upper}; max is {float(np.max(arr))!r}")
    if lower is not None and np.any(arr < lower):
        raise ValueError(f"{name} must be >= {lower}; min is {float(np.min(arr))!r}")
    return arr


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
