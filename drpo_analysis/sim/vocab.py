"""Long-tailed next-token distributions and training–inference mismatch at identical weights.

* **Vocabularies** (:func:`context_logits`): per-context logits whose softmax has a power-law
  (Zipf) tail ``p_v ∝ v^(−s)`` and a controlled top-1 mass (drawn per context from a Beta law, as
  real LM positions range from near-deterministic to high-entropy), shifted so the largest logit
  sits at ``logit_max`` (absolute logit size matters for floating-point rounding).
* **Mismatch models** (:func:`apply_mismatch`): the inference engine μ sees the training engine's
  logits ``z`` rounded to bf16 / fp16, or to fp8 e4m3 / e5m2 with per-row scaling
  (``scale = amax / fp8_max``, as FP8 inference kernels do), or perturbed by Gaussian noise of
  σ, or at another temperature; the sampler may truncate μ to its top-k / top-p set.
* **Sampled-token statistics** (:func:`simulate`): tokens ``a ~ μ`` per context, and per bucket of
  μ the importance ratio ``r = π/μ``, ``|log r|``, ``|π − μ|``, which tokens PPO-clip and the DPPO
  masks drop and DRPO's weight ``1 − sΔ/δ`` (all from the registry through
  :func:`losses_np.gradient_weight`), the fraction of sampled tokens with ``μ ≤ 0.01`` (DRPO §3
  reports ≈ 7.8% in real runs), and the full-vocabulary divergences against DPPO's Binary and
  Top-K approximations (which must never exceed them; checked on the fly).

Every array is processed in blocks of rows through preallocated buffers so memory stays bounded
whatever the number of contexts; the same seed gives bitwise the same result.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np

from drpo_analysis.core import validate, divergences, losses_np
from drpo_analysis.core.methods import DPPO_TV_DELTA
from drpo_analysis.core.mismatch import MismatchGrammar, MismatchSpec

#: Default edges of the μ buckets of the sampled-token statistics.
BUCKET_EDGES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 0.5, 1.0)
#: Methods whose masks / weights are tabulated per bucket (registry names).
MASK_METHODS = ("ppo_clip", "dppo_binary_tv", "dppo_binary_kl")
#: DRPO weight distributions tabulated per bucket: label → (registry name, parameters); the
#: paper's runs use δ = 12.5, the DPPO-consistent boundary is δ = 0.15.
WEIGHT_METHODS = {"drpo": ("drpo", {}), "drpo_d0.15": ("drpo", {"delta": DPPO_TV_DELTA})}
BLOCK_ROWS = 8  # rows per block: 8 × 151,936 float32 ≈ 4.9 MB per buffer


def _fp8(kind: str):
    import ml_dtypes
    return {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}[kind]


#: The mismatches this simulator implements (grammar: :mod:`drpo_analysis.core.mismatch`).
MISMATCH = MismatchGrammar(precisions=("bf16", "fp16", "fp8_e4m3", "fp8_e5m2"),
                           parameters=("noise", "temperature", "top_k", "top_p"))


def apply_mismatch(spec: MismatchSpec, z: np.ndarray, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """μ's logits from π's logits ``z`` [R, V] float32 into ``out`` [R, V] (−inf = truncated):
    the precision's rounding, then logit noise σ·N(0, 1), then temperature τ, then the sampler's
    top-k / top-p truncation."""
    k = spec.precision
    if k == "none":
        out[...] = z
    elif k == "bf16":
        import ml_dtypes
        out[...] = z.astype(ml_dtypes.bfloat16)
    elif k == "fp16":
        out[...] = z.astype(np.float16)
    else:  # fp8_e4m3 | fp8_e5m2, per-row scale amax / fp8_max as FP8 inference kernels do
        dt = _fp8(k)
        import ml_dtypes
        scale = np.abs(z).max(1, keepdims=True) / np.float32(ml_dtypes.finfo(dt).max)  # [R, 1]
        scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
        np.divide(z, scale, out=out)
        out[...] = out.astype(dt)
        out *= scale
    if spec.noise:
        noise = rng.standard_normal(out.shape, dtype=np.float32)
        noise *= np.float32(spec.noise)
        out += noise
    if spec.temperature != 1.0:
        out *= np.float32(1.0 / spec.temperature)
    if spec.top_k or spec.top_p < 1.0:
        truncate(out, spec.top_k, spec.top_p)
    return out


def truncate(z: np.ndarray, top_k: int, top_p: float) -> None:
    """Sampler truncation in place: logits outside top-k / the top-p nucleus become −inf."""
    V = z.shape[1]
    for row in z:
        if 0 < top_k < V:
            kth = np.partition(row, V - top_k)[V - top_k]
            row[row < kth] = -np.inf
        if top_p < 1.0:
            order = np.argsort(-row, kind="stable")
            p = np.exp(row[order].astype(np.float64) - float(row[order[0]]))
            c = np.cumsum(p)
            keep = int(np.searchsorted(c, top_p * c[-1])) + 1   # smallest set with mass >= p
            row[order[keep:]] = -np.inf


@dataclass(frozen=True)
class Vocabulary:
    """Shape of the per-context next-token distributions (see module docstring).

    V: vocabulary size; zipf: tail exponent s; top1_a / top1_b: Beta law of the top-1 mass per
    context; temperature: divides the logits; logit_max: value of the largest logit.
    """

    V: int = 151_936
    zipf: float = 1.1
    top1_a: float = 3.0
    top1_b: float = 0.3
    temperature: float = 1.0
    logit_max: float = 20.0

    def __post_init__(self):
        if isinstance(self.V, bool) or not isinstance(self.V, (int, np.integer)) or not 2 <= self.V <= 1 << 22:
            raise ValueError(f"V (vocabulary size) must be an integer in [2, {1 << 22}], got {self.V!r}")
        validate.real_scalar("zipf", self.zipf, low=0.0, high=10.0, low_open=True)
        validate.real_scalar("top1_a", self.top1_a, low=0.0, low_open=True)
        validate.real_scalar("top1_b", self.top1_b, low=0.0, low_open=True)
        validate.real_scalar("temperature", self.temperature, low=0.0, low_open=True)
        validate.real_scalar("logit_max", self.logit_max, low=-1e4, high=1e4)


def context_logits(vocab: Vocabulary, rng: np.random.Generator, n: int,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Logits [n, V] float32 of ``n`` contexts: Zipf tail ``−s log v`` (rank v ≥ 2), a top-1 logit
    set so its softmax mass is ``t ~ Beta(a, b)``, token ids shuffled per context by a random
    cyclic shift, all divided by the temperature and shifted so the max is ``logit_max``."""
    V, T = vocab.V, vocab.temperature
    out = np.empty((n, V), np.float32) if out is None else out
    top1 = rng.beta(vocab.top1_a, vocab.top1_b, size=n).clip(1e-6, 1 - 1e-6)   # [n]
    shifts = rng.integers(0, V, size=n)                                       # [n]
    tail = -vocab.zipf * np.log(np.arange(2, V + 1, dtype=np.float64))         # [V-1], ranks 2..V
    log_rest = np.log(np.exp(tail - tail[0]).sum()) + tail[0]
    tail_t = (tail / T).astype(np.float32)                                    # [V-1]
    for i in range(n):
        z1 = np.log(top1[i]) - np.log1p(-top1[i]) + log_rest   # mass t: z1 = logit(t) + log Σ tail
        c = np.float32(vocab.logit_max - max(z1, tail[0]) / T)  # shift so the max is logit_max
        sh, row = int(shifts[i]), out[i]
        # Rank r (0 = top) goes to token (r + sh) mod V: a cyclic shift without temporaries.
        row[sh] = np.float32(z1 / T) + c
        k = V - 1 - sh                                          # tail entries before the wrap
        np.add(tail_t[:k], c, out=row[sh + 1:])
        np.add(tail_t[k:], c, out=row[:sh])
    return out


@dataclass
class VocabSettings:
    """One ``simulate vocab`` run: contexts × samples tokens per mismatch model."""

    vocab: Vocabulary = field(default_factory=Vocabulary)
    contexts: int = 256
    samples: int = 64
    mismatches: tuple[str, ...] = ("bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "noise=0.05",
                                   "temperature=1.05", "bf16+top_p=0.95")
    topk: int = 20
    approximations: bool = True
    seed: int = 0
    keep_scatter: int = 20_000

    def __post_init__(self):
        for name in ("contexts", "samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not self.mismatches:
            raise ValueError("mismatches must name at least one mismatch model")
        for m in self.mismatches:
            MISMATCH.parse(m)
        if not (isinstance(self.topk, (int, np.integer)) and 1 <= self.topk < self.vocab.V):
            raise ValueError(f"topk must be an integer in [1, V-1], got {self.topk!r}")


def _log_softmax_rows(z: np.ndarray, out: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Row log-softmax [R, V] float32 into ``out`` and the probabilities into ``p`` (float32;
    the normaliser accumulated in float64)."""
    m = z.max(1, keepdims=True)
    np.subtract(z, m, out=out)
    np.exp(out, out=p)
    s = p.sum(1, dtype=np.float64, keepdims=True)
    out -= np.log(s).astype(np.float32)
    p *= (1.0 / s).astype(np.float32)
    return out


def _sample_rows(p: np.ndarray, n: int, rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """``n`` tokens per row of probabilities ``p`` [R, V] by inverse CDF (cumulative sums
    accumulated in float64, so tail tokens keep their resolution) → [R, n]."""
    R = p.shape[0]
    np.cumsum(p, axis=1, dtype=np.float64, out=cdf)
    u = rng.random((R, n)) * cdf[:, -1:]
    tok = np.empty((R, n), np.int64)
    for i in range(R):
        tok[i] = np.searchsorted(cdf[i], u[i], side="right")
    return np.minimum(tok, p.shape[1] - 1)


def _blocks(total: int, size: int) -> Iterator[slice]:
    for i in range(0, total, size):
        yield slice(i, min(i + size, total))


def sample_tokens(vocab: Vocabulary, mismatch: MismatchSpec, contexts: int, samples: int,
                  seed: int, *, topk: int = 20, approximations: bool = True,
                  progress: bool = False) -> dict[str, np.ndarray]:
    """Sample ``samples`` tokens from μ in each of ``contexts`` contexts (blocks of rows).

    Returns flat per-token arrays [N] (``ell`` = log π, ``ell_mu`` = log μ, ``row``) and per-context
    arrays [contexts] (``tv``, ``kl_mu_pi``, ``kl_pi_mu``, ``entropy_mu``), plus, with
    ``approximations``, per-token ``binary_*`` / ``topk_*`` [N].
    """
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    V, B = vocab.V, min(BLOCK_ROWS, contexts)
    z, zmu, lp, lmu, pmu = (np.empty((B, V), np.float32) for _ in range(5))
    cdf = np.empty((B, V), np.float64)
    N = contexts * samples
    res = {k: np.empty(N) for k in ("ell", "ell_mu")}
    res["row"] = np.repeat(np.arange(contexts), samples)
    per_ctx = {k: np.empty(contexts) for k in ("tv", "kl_mu_pi", "kl_pi_mu", "entropy_mu")}
    approx = {k: np.empty(N) for k in ("binary_tv", "binary_kl", "topk_tv", "topk_kl")} if approximations else {}
    for sl in tqdm(list(_blocks(contexts, B)), desc=f"vocab {mismatch.label}", disable=not progress,
                   leave=False):
        R = sl.stop - sl.start
        zb, zm, lpb, lmb, pmb, cb = z[:R], zmu[:R], lp[:R], lmu[:R], pmu[:R], cdf[:R]
        context_logits(vocab, rng, R, out=zb)
        apply_mismatch(mismatch, zb, zm, rng)
        with np.errstate(invalid="ignore"):     # −inf − (−inf) in truncated rows → NaN, fixed below
            d = divergences.full_divergences(zm, zb) if not (mismatch.top_k or mismatch.top_p < 1) \
                else _truncated_divergences(zm, zb)
        for k in ("tv", "kl_mu_pi", "kl_pi_mu"):
            per_ctx[k][sl] = d[k]
        _log_softmax_rows(zb, lpb, pmb)
        _log_softmax_rows(zm, lmb, pmb)
        with np.errstate(invalid="ignore"):             # zb is free now: p log p (NaN if p = 0)
            np.multiply(pmb, lmb, out=zb)
        per_ctx["entropy_mu"][sl] = -np.nansum(zb, 1, dtype=np.float64) if mismatch.top_k or \
            mismatch.top_p < 1 else -zb.sum(1, dtype=np.float64)
        tok = _sample_rows(pmb, samples, rng, cb)                        # [R, n]
        ts = slice(sl.start * samples, sl.stop * samples)
        res["ell"][ts] = np.take_along_axis(lpb, tok, 1).ravel()
        res["ell_mu"][ts] = np.take_along_axis(lmb, tok, 1).ravel()
        if approximations:
            a = divergences.sampled_approximations(lmb, lpb, tok, k=topk)
            for k, v in a.items():
                approx[k][ts] = v.ravel()
    return {**res, **approx, **{f"ctx_{k}": v for k, v in per_ctx.items()}}


def _truncated_divergences(zmu: np.ndarray, zpi: np.ndarray) -> dict[str, np.ndarray]:
    """Full divergences when μ is truncated (−inf logits): float64 reference per row."""
    out = {k: np.empty(zmu.shape[0]) for k in divergences.FULL_KINDS}
    for i in range(zmu.shape[0]):
        d = divergences.reference_divergences(divergences.softmax64(zmu[i]), divergences.softmax64(zpi[i]))
        for k in out:
            out[k][i] = d[k]
    return out


def bucket_table(ell, ell_mu, *, edges=BUCKET_EDGES, methods_params=None) -> list[dict]:
    """Per-bucket statistics of sampled tokens (buckets of μ, ``edges`` increasing in [0, 1]).

    For each bucket: count and share, mean / median / max of ``r`` and ``|log r|``, mean / max
    ``|π − μ|``, mask rates of :data:`MASK_METHODS` for ``Â > 0`` and ``Â < 0`` (a token is masked
    when its registry gradient weight is 0) and quantiles of DRPO's weight for each sign
    (:data:`WEIGHT_METHODS`). ``methods_params``: parameter overrides of the mask methods.
    """
    ell = validate.as_float_array("ell", ell, allow_neg_inf=True, upper=0.0).ravel()
    ell_mu = validate.as_float_array("ell_mu", ell_mu, upper=0.0).ravel()
    validate.same_shape(ell=ell, ell_mu=ell_mu)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0) or e[0] < 0 or e[-1] > 1:
        raise ValueError(f"edges must be strictly increasing within [0, 1], got {list(edges)}")
    params = dict(methods_params or {})
    mu, pi = np.exp(ell_mu), np.exp(ell)
    log_r = ell - ell_mu
    weights = {}
    specs = {m: (m, params.get(m)) for m in MASK_METHODS}
    specs.update(WEIGHT_METHODS)
    for label, (name, prm) in specs.items():
        for s in (1.0, -1.0):
            weights[label, s] = losses_np.gradient_weight(name, ell, ell_mu, np.full_like(ell, s),
                                                          params=prm)
    which = np.clip(np.searchsorted(e, mu, side="left") - 1, 0, e.size - 2)   # (lo, hi] buckets
    rows = []
    for b in range(e.size - 1):
        sel = which == b
        cnt = int(sel.sum())
        row = {"bucket": f"({e[b]:g}, {e[b + 1]:g}]", "count": cnt,
               "share": cnt / max(ell.size, 1)}
        if cnt:
            r, alr, sh = np.exp(log_r[sel]), np.abs(log_r[sel]), np.abs(pi[sel] - mu[sel])
            row.update(r_mean=float(r.mean()), r_median=float(np.median(r)), r_max=float(r.max()),
                       r_min=float(r.min()), abs_log_r_mean=float(alr.mean()),
                       abs_log_r_max=float(alr.max()), abs_shift_mean=float(sh.mean()),
                       abs_shift_max=float(sh.max()))
            for (m, s), w in weights.items():
                sign = "pos" if s > 0 else "neg"
                if m in MASK_METHODS:
                    row[f"masked_{m}_{sign}"] = float((w[sel] == 0).mean())
                else:
                    q = np.quantile(w[sel], [0.01, 0.5, 0.99])
                    row.update({f"w_{m}_{sign}_q01": float(q[0]), f"w_{m}_{sign}_q50": float(q[1]),
                                f"w_{m}_{sign}_q99": float(q[2])})
        rows.append(row)
    return rows


def _summ(x: np.ndarray) -> dict:
    return {"mean": float(np.mean(x)), "median": float(np.median(x)), "max": float(np.max(x))}


def approximation_gaps(tok: dict[str, np.ndarray], *, rtol: float = 1e-5, atol: float = 1e-7) -> dict:
    """Binary / Top-K approximations against the exact per-context divergence of each token.

    ``gap = approx / exact`` (1 = tight); ``violations`` counts tokens where an approximation
    exceeds the exact value by more than ``atol + rtol · exact`` (a lower bound must never do so;
    ``atol`` = 1e-7 is the float32 accuracy of the exact value and of the sampled log-probs).
    """
    rows = tok["row"]
    out = {}
    for approx, exact in (("binary_tv", "tv"), ("topk_tv", "tv"), ("binary_kl", "kl_mu_pi"),
                          ("topk_kl", "kl_mu_pi")):
        ex = tok[f"ctx_{exact}"][rows]
        ap = tok[approx]
        ok = ex > 0
        ratio = np.where(ok, ap / np.where(ok, ex, 1.0), 1.0)
        viol = ap > ex + atol + rtol * ex
        out[approx] = {"exact": exact, "ratio_to_exact": _summ(ratio),
                       "violations": int(viol.sum()),
                       "max_excess": float(np.max(ap - ex))}
    return out


def simulate(settings: VocabSettings, *, progress: bool = False) -> dict:
    """Run every mismatch model of ``settings``; JSON-ready summary plus scatter samples.

    Returns ``{"settings", "results": [{mismatch, n_tokens, frac_mu_le_0.01, buckets, divergence,
    approximation}], "scatter": {label: {"mu", "pi"}}}`` (scatter: not JSON by default).
    """
    results, scatter = [], {}
    for i, spec in enumerate(settings.mismatches):
        mm = MISMATCH.parse(spec)
        tok = sample_tokens(settings.vocab, mm, settings.contexts, settings.samples,
                            seed=settings.seed * 1000 + i, topk=settings.topk,
                            approximations=settings.approximations, progress=progress)
        mu = np.exp(tok["ell_mu"])
        entry = {
            "mismatch": mm.label, "n_tokens": int(mu.size),
            "frac_mu_le_0.01": float((mu <= 0.01).mean()),
            "mean_entropy_mu": float(tok["ctx_entropy_mu"].mean()),
            "buckets": bucket_table(tok["ell"], tok["ell_mu"]),
            "divergence": {k: _summ(tok[f"ctx_{k}"]) for k in divergences.FULL_KINDS},
        }
        if settings.approximations:
            entry["approximation"] = approximation_gaps(tok)
        results.append(entry)
        keep = np.random.default_rng(settings.seed).permutation(mu.size)[:settings.keep_scatter]
        keep.sort()
        scatter[mm.label] = {"mu": mu[keep], "pi": np.exp(tok["ell"][keep])}
    s = asdict(settings)
    s["mismatches"] = list(settings.mismatches)
    return {"settings": s, "results": results, "scatter": scatter}
