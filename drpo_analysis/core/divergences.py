"""Divergences between the behaviour policy μ and the trained policy π.

Per-token (sampled-token) approximations used by DPPO's masks:

* Binary: the partition {sampled token, everything else} (DPPO eq. 11-12);
* Top-K: the partition top-K(μ) ∪ {sampled} ∪ {rest bucket} (DPPO §4.2).

Both are functions of a partition of the vocabulary, so by the data-processing inequality they
never exceed the full-vocabulary TV / KL (checked in ``proofs/``). Written against an array
namespace so the same code serves numpy (float64 reference) and torch tensors.
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.core.validate import array_namespace as _xp


def _rest(p_k, xp):
    """Probability of the rest bucket, ``1 − Σ_k p_k`` clamped at 0 (rounding), [...]."""
    rest = 1.0 - p_k.sum(-1)
    return rest.clip(0.0, None) if xp is np else rest.clamp(min=0.0)


def _pair(name_a, a, name_b, b, **bounds):
    """Validate two same-shaped numpy arrays (or torch tensors: type and shape only)."""
    from drpo_analysis.core import validate

    if _xp(a) is np or _xp(b) is np or not hasattr(a, "shape") or not hasattr(b, "shape"):
        a = validate.as_float_array(name_a, a, **bounds)
        b = validate.as_float_array(name_b, b, **bounds)
    elif not (a.is_floating_point() and b.is_floating_point()):
        raise TypeError(f"{name_a} and {name_b} must be floating-point tensors, got {a.dtype}, {b.dtype}")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"shape mismatch: {name_a}{list(a.shape)}, {name_b}{list(b.shape)}; "
                         "both must have the same shape")
    return a, b


def topk_divergence(logp_mu_k, logp_k, kind: str, *, check: bool = True):
    """TV or KL(μ‖π) over the K listed tokens plus the rest bucket.

    logp_mu_k, logp_k: [..., K] log-probabilities of the same K tokens under μ and π (≤ 0, −inf
    allowed). Returns [...]. ``check=False`` skips the validation (callers that validated the
    whole array already, e.g. the chunked kernels of ``losses_np``).
    """
    if check:
        _validate_kind(kind)
        logp_mu_k, logp_k = _pair("logp_mu_k", logp_mu_k, "logp_k", logp_k, allow_neg_inf=True, upper=0.0)
        if logp_k.ndim < 1:
            raise ValueError("logp_mu_k and logp_k must have shape [..., K] with at least one axis")
    xp = _xp(logp_mu_k)
    mu_k, pi_k = xp.exp(logp_mu_k), xp.exp(logp_k)
    mu_r, pi_r = _rest(mu_k, xp), _rest(pi_k, xp)
    if kind == "tv":
        return 0.5 * (xp.abs(mu_k - pi_k).sum(-1) + xp.abs(mu_r - pi_r))
    if kind == "kl":
        # 0 log 0 = 0; μ_k > 0 with π_k = 0 gives +inf, as it should.
        terms = xp.where(mu_k > 0, mu_k * (logp_mu_k - logp_k), 0.0 * mu_k)
        rest = xp.where(mu_r > 0, mu_r * (xp.log(mu_r) - xp.log(pi_r)), 0.0 * mu_r)
        return terms.sum(-1) + rest
    raise ValueError(f"unknown divergence kind {kind!r}; expected 'tv' or 'kl'")


def _validate_kind(kind):
    if not isinstance(kind, str):
        raise TypeError(f"kind must be 'tv' or 'kl', got {type(kind).__name__}")
    if kind not in ("tv", "kl"):
        raise ValueError(f"unknown divergence kind {kind!r}; expected 'tv' or 'kl'")


def binary_tv(mu, pi):
    """Binary TV over {sampled, rest}: ``|π − μ|`` (DPPO eq. 11); mu, pi ∈ [0, 1], same shape."""
    mu, pi = _pair("mu", mu, "pi", pi, lower=0.0, upper=1.0)
    return abs(pi - mu)


def binary_kl(mu, pi):
    """Binary KL(μ‖π) over {sampled, rest} (DPPO eq. 12); 0·log 0 = 0; mu, pi ∈ [0, 1]."""
    mu, pi = _pair("mu", mu, "pi", pi, lower=0.0, upper=1.0)
    xp = _xp(mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = xp.where(mu > 0, mu * (xp.log(mu) - xp.log(pi)), 0.0 * mu)
        b = xp.where(mu < 1, (1 - mu) * (xp.log1p(-mu) - xp.log1p(-pi)), 0.0 * mu)
    return a + b


# ---------------------------------------------------------------------------------------------
# Full-vocabulary divergences between two logit arrays [T, V] (DPPO §3: TV and KL over the
# whole next-token distribution, of which the Binary and Top-K forms above are lower bounds).
# ---------------------------------------------------------------------------------------------

FULL_KINDS = ("tv", "kl_mu_pi", "kl_pi_mu")


def _logit_rows(name: str, logits) -> np.ndarray:
    if isinstance(logits, (str, bytes)) or logits is None:
        raise TypeError(f"{name} must be an array of real logits, got {type(logits).__name__}")
    a = np.asarray(logits)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim < 1 or a.shape[-1] < 2:
        raise ValueError(f"{name} must have shape [..., V] with V >= 2, got {list(a.shape)}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32 if a.itemsize <= 4 else np.float64)
    return a


def full_divergences(logits_mu, logits_pi) -> dict[str, np.ndarray]:
    """Exact TV(μ, π), KL(μ‖π) and KL(π‖μ) over the full vocabulary, per row (DPPO eq. 3-4).

    logits_mu, logits_pi: [..., V] unnormalised logits of μ and π (float32 or float64; float32
    stays float32 element-wise, with every sum and the log-normaliser combination in float64).
    Returns ``{"tv", "kl_mu_pi", "kl_pi_mu"}``, each float64 of shape [...].

    Memory: one row at a time through three preallocated [V] buffers, so the extra memory is
    ``3 · V · itemsize`` plus the [...] outputs whatever the number of rows (1.8 MB at V = 151,936
    float32). Numerics, per row with ``m`` the row max, ``e = exp(z − m)``, ``S = Σ e``:

    * ``KL(μ‖π) = Σ e_μ (z_μ − z_π) / S_μ − (m_μ − m_π) − log(S_μ / S_π)``: the logit difference
      ``z_μ − z_π`` of two nearby float32 logits is exact (Sterbenz), the offsets are float64;
    * ``TV = ½ Σ |e_μ − (S_μ/S_π) e_π| / S_μ``.

    Non-finite logits raise ``ValueError`` naming the argument and the row.
    """
    a, b = _logit_rows("logits_mu", logits_mu), _logit_rows("logits_pi", logits_pi)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: logits_mu{list(a.shape)}, logits_pi{list(b.shape)}; "
                         "both must be [..., V] of the same shape")
    lead, V = a.shape[:-1], a.shape[-1]
    dtype = np.result_type(a.dtype, b.dtype)
    a2, b2 = a.reshape(-1, V), b.reshape(-1, V)
    out = {k: np.empty(a2.shape[0], dtype=np.float64) for k in FULL_KINDS}
    ea, eb, d = (np.empty(V, dtype=dtype) for _ in range(3))  # [V] each, reused for every row
    with np.errstate(invalid="ignore", over="ignore"):       # a −inf logit surfaces as NaN: raised
        _full_rows(a2, b2, ea, eb, d, out)
    return {k: v.reshape(lead) for k, v in out.items()}


def _full_rows(a2, b2, ea, eb, d, out):
    dtype = ea.dtype
    for i in range(a2.shape[0]):
        za, zb = a2[i], b2[i]
        ma, mb = float(za.max()), float(zb.max())
        if not (np.isfinite(ma) and np.isfinite(mb)):
            bad = "logits_mu" if not np.isfinite(ma) else "logits_pi"
            raise ValueError(f"{bad} row {i} contains NaN or +inf; logits must be finite")
        np.subtract(za, dtype.type(ma), out=ea)
        np.exp(ea, out=ea)
        np.subtract(zb, dtype.type(mb), out=eb)
        np.exp(eb, out=eb)
        np.subtract(za, zb, out=d)
        sa, sb = float(ea.sum(dtype=np.float64)), float(eb.sum(dtype=np.float64))
        dot_a, dot_b = float(np.dot(ea, d)), float(np.dot(eb, d))
        offset = (ma - mb) + np.log(sa / sb)   # log-normaliser difference, float64
        kl_ab = dot_a / sa - offset
        kl_ba = offset - dot_b / sb
        np.multiply(eb, dtype.type(sa / sb), out=d)
        np.subtract(ea, d, out=d)
        np.abs(d, out=d)
        tv = 0.5 * float(d.sum(dtype=np.float64)) / sa
        if not (np.isfinite(kl_ab) and np.isfinite(kl_ba) and np.isfinite(tv)):
            raise ValueError(f"logits_mu/logits_pi row {i} contains -inf or non-finite values; "
                             "logits must be finite")
        # Float rounding can leave a KL a few ulps below 0; the divergence itself is >= 0.
        out["kl_mu_pi"][i], out["kl_pi_mu"][i], out["tv"][i] = max(kl_ab, 0.0), max(kl_ba, 0.0), tv


def check_distribution(name: str, p, *, atol: float = 1e-6) -> np.ndarray:
    """Validate a probability array [..., V]: finite, non-negative, rows summing to 1 (± atol)."""
    if isinstance(p, (str, bytes)) or p is None:
        raise TypeError(f"{name} must be an array of probabilities, got {type(p).__name__}")
    a = np.asarray(p, dtype=np.float64)
    if a.ndim < 1 or a.shape[-1] < 1:
        raise ValueError(f"{name} must have shape [..., V], got {list(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; probabilities must be finite")
    if np.any(a < 0):
        raise ValueError(f"{name} has negative entries (min {float(a.min())!r}); probabilities "
                         "must be >= 0")
    sums = a.sum(-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > atol:
        raise ValueError(f"{name} rows must sum to 1 (± {atol}); worst row sums to "
                         f"{float(sums.flat[np.argmax(np.abs(sums - 1.0))])!r}")
    return a


def reference_divergences(mu, pi) -> dict[str, np.ndarray]:
    """Float64 reference of :func:`full_divergences` from probabilities [..., V] (unchunked).

    ``TV = ½ Σ|μ − π|``, ``KL(μ‖π) = Σ μ log(μ/π)`` with ``0 log 0 = 0`` (and ``+inf`` where
    ``μ > 0 = π``); the rows must be valid distributions (checked).
    """
    mu, pi = check_distribution("mu", mu), check_distribution("pi", pi)
    if mu.shape != pi.shape:
        raise ValueError(f"shape mismatch: mu{list(mu.shape)}, pi{list(pi.shape)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(mu) - np.log(pi)
        kl_ab = np.where(mu > 0, mu * log_ratio, 0.0).sum(-1)
        kl_ba = np.where(pi > 0, -pi * log_ratio, 0.0).sum(-1)
    return {"tv": 0.5 * np.abs(mu - pi).sum(-1), "kl_mu_pi": kl_ab, "kl_pi_mu": kl_ba}


def softmax64(logits) -> np.ndarray:
    """Float64 softmax over the last axis (the naive, unchunked path of the reference)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def binary_kl_log(logp_mu, logp):
    """Binary KL(μ‖π) of DPPO eq. 12 from log-probabilities, float64: ``1 − p`` is taken as
    ``−expm1(log p)``, exact to rounding even when ``p`` is within 1e-12 of 1 (where
    :func:`binary_kl`'s ``log1p(−p)`` from a rounded ``p`` has relative error ``eps/(1 − p)``)."""
    lm, lp = np.asarray(logp_mu, np.float64), np.asarray(logp, np.float64)
    mu = np.exp(lm)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(mu > 0, mu * (lm - lp), 0.0)
        b = np.where(mu < 1, -np.expm1(lm) * (np.log(-np.expm1(lm)) - np.log(-np.expm1(lp))), 0.0)
    return a + b


def _partition_divergences(logp_mu_k, logp_k, mu_r, pi_r):
    """TV and KL(μ‖π) over K listed tokens (log-probabilities [..., K]) plus a rest bucket whose
    masses ``mu_r``, ``pi_r`` [...] are given (summed directly, not as ``1 − Σ_k``: that
    difference loses all relative precision when the rest is tiny, and a rounding residue
    ``rest_μ ~ 1e-17`` against ``rest_π = 0`` would make the KL +inf)."""
    mu_k, pi_k = np.exp(logp_mu_k), np.exp(logp_k)
    tv = 0.5 * (np.abs(mu_k - pi_k).sum(-1) + np.abs(mu_r - pi_r))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mu_k > 0, mu_k * (logp_mu_k - logp_k), 0.0).sum(-1)
        rest = np.where(mu_r > 0, mu_r * (np.log(mu_r) - np.log(pi_r)), 0.0)
    return tv, terms + rest


def _rest_masses(p_row, top, tok_row):
    """Mass outside ``top ∪ {a}`` for each sampled ``a`` of one row, summed directly over the
    complement (``rest_top − p_a`` only where ``p_a ≤ rest_top / 2``, free of cancellation)."""
    keep = np.ones(p_row.size, bool)
    keep[top] = False
    rest_top = p_row.sum(where=keep)
    inside = ~keep[tok_row]
    pa = p_row[tok_row]
    out = np.where(inside, rest_top, rest_top - pa)
    for j in np.flatnonzero(~inside & (pa > 0.5 * rest_top)):
        keep[tok_row[j]] = False
        out[j] = p_row.sum(where=keep)
        keep[tok_row[j]] = True
    return np.maximum(out, 0.0)


def topk_ids(logp_mu: np.ndarray, k: int, *, chunk_bytes: int = 32 << 20) -> np.ndarray:
    """Ids of top-K(μ) per row (in no particular order): logp_mu [T, V] → [T, k] int64.

    ``argpartition`` over blocks of rows, so its int64 work array stays within ``chunk_bytes``
    whatever T is (each row is selected independently: the result does not depend on the block).
    """
    T, V = logp_mu.shape
    rows = max(1, chunk_bytes // (8 * V))
    top = np.empty((T, k), np.int64)
    for i in range(0, T, rows):
        top[i:i + rows] = np.argpartition(logp_mu[i:i + rows], -k, axis=1)[:, -k:]
    return top


def topk_columns(logp: np.ndarray, top: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Log-probabilities of top-K(μ) ∪ {sampled} per sampled token, the Top-K extras
    (``topk_logp_mu`` / ``topk_logp``) that :func:`topk_divergence` expects (DPPO §4.2).

    logp [T, V] (under μ or π), top [T, k] from :func:`topk_ids`, tokens [T, n] sampled ids →
    [T, n, k+1] float64: the k top-K(μ) tokens, then the sampled one. When the sampled token is
    already in top-K(μ) its extra column is −inf (probability 0), so nothing is counted twice.
    """
    T, n = tokens.shape
    k = top.shape[1]
    inside = (top[:, None, :] == tokens[:, :, None]).any(-1)           # [T, n]
    ids = np.concatenate([np.broadcast_to(top[:, None, :], (T, n, k)), tokens[:, :, None]], -1)
    cols = np.take_along_axis(logp, ids.reshape(T, n * (k + 1)), 1).astype(np.float64)
    cols = cols.reshape(T, n, k + 1)
    cols[..., -1] = np.where(inside, -np.inf, cols[..., -1])
    return cols


def sampled_approximations(logp_mu, logp_pi, tokens, *, k: int = 20) -> dict[str, np.ndarray]:
    """DPPO's per-token approximations at sampled tokens, from full log-probabilities [T, V].

    tokens: [T, n] sampled token ids (n samples per row). Returns ``binary_tv``, ``binary_kl``
    (DPPO eq. 11-12) and ``topk_tv``, ``topk_kl`` (top-K(μ) ∪ {sampled} ∪ {rest}, §4.2), each
    [T, n] float64. The rest bucket is summed over the complement row by row (memory ``O(V)``).
    """
    lm, lp = np.asarray(logp_mu), np.asarray(logp_pi)
    if lm.shape != lp.shape or lm.ndim != 2:
        raise ValueError(f"logp_mu and logp_pi must both be [T, V], got {list(lm.shape)} and "
                         f"{list(lp.shape)}")
    tok = np.asarray(tokens)
    if tok.ndim != 2 or tok.shape[0] != lm.shape[0] or not np.issubdtype(tok.dtype, np.integer):
        raise ValueError(f"tokens must be integer [T, n] with T = {lm.shape[0]}, got "
                         f"{tok.dtype} {list(tok.shape)}")
    if tok.size and (tok.min() < 0 or tok.max() >= lm.shape[1]):
        raise ValueError(f"tokens must lie in [0, {lm.shape[1]}), got range "
                         f"[{int(tok.min())}, {int(tok.max())}]")
    if not (isinstance(k, (int, np.integer)) and 1 <= k < lm.shape[1]):
        raise ValueError(f"k must be an integer in [1, V-1] = [1, {lm.shape[1] - 1}], got {k!r}")
    T, n = tok.shape
    lm_s = np.take_along_axis(lm, tok, 1).astype(np.float64)           # [T, n]
    lp_s = np.take_along_axis(lp, tok, 1).astype(np.float64)           # [T, n]
    out = {"binary_tv": binary_tv(np.exp(lm_s), np.exp(lp_s)), "binary_kl": binary_kl_log(lm_s, lp_s)}
    top = topk_ids(lm, k)                                              # [T, k]
    lmk, lpk = topk_columns(lm, top, tok), topk_columns(lp, top, tok)  # [T, n, k+1]
    rest_mu, rest_pi = np.empty((T, n)), np.empty((T, n))
    for i in range(T):
        rest_mu[i] = _rest_masses(np.exp(lm[i].astype(np.float64)), top[i], tok[i])
        rest_pi[i] = _rest_masses(np.exp(lp[i].astype(np.float64)), top[i], tok[i])
    topk_tv, topk_kl = _partition_divergences(lmk, lpk, rest_mu, rest_pi)
    out.update(topk_tv=topk_tv, topk_kl=topk_kl)
    return out
