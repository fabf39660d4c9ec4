"""Input generators for policy-loss fuzzing: numpy samplers and the hypothesis strategies over them.

Every sampler takes a ``numpy.random.Generator`` and keyword-only options, so the same seed gives
the same batch bitwise. The hypothesis strategies (:func:`log_prob_pairs`, :func:`advantages`,
:func:`masks`, :func:`batches`, :func:`packed_batches`) draw the shape and the regime with
hypothesis and the values from a seeded generator: fast for arrays of thousands of tokens, and
usable in any test suite::

    from hypothesis import given
    from drpo_analysis.fuzz import strategies as fst

    @given(fst.batches(max_batch=4, max_len=16))
    def test_my_loss(batch):
        ...  # batch.logp, batch.logp_mu, batch.adv, batch.mask: [B, T] numpy arrays

Defaults are finite and bounded (|log r| ≤ 30, μ ≥ 1e−12, π ≤ 1 − 1e−4); ``extreme=True`` adds
log-ratios up to ±100 and ``−inf`` current log-probs (π = 0).

Regimes of the log-prob pairs (docs/methods.md#notation; DRPO reports ~7.8% of tokens with μ ≤ 0.01):

* ``log μ``: a mixture of confident tokens (μ ≈ 1), a log-uniform long tail down to ``min_mu``;
* ``ℓ − ℓ_μ``: Gaussian drifts of three sizes (training–inference mismatch), an independent π
  (large absolute shifts Δ), and points within a hair of the method's kinks (``kinks``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

MAX_LOG_PROB = math.log1p(-1e-4)   # π ≤ 1 − 1e−4 by default (binary KL stays finite)
BOUNDED_LOG_RATIO = 30.0
EXTREME_LOG_RATIO = 100.0


@dataclass(frozen=True)
class Kink:
    """A point where a method's gradient is discontinuous, in the coordinate that defines it.

    kind: ``"log_ratio"`` (a boundary on r = π/μ, value = log r) or ``"shift"`` (a boundary on
    Δ = π − μ, value = Δ).
    """

    kind: str
    value: float


@dataclass
class Batch:
    """One fuzz example; every per-token array has shape [B, T] (extras add trailing axes)."""

    logp: np.ndarray        # [B, T] ℓ = log π (float64 values, representable in the fuzzed dtype)
    logp_mu: np.ndarray     # [B, T] ℓ_μ = log μ
    adv: np.ndarray         # [B, T] Â (constant along a row when advantages are per sequence)
    mask: np.ndarray        # [B, T] bool, False = padding
    group_ids: np.ndarray   # [B] prompt-group id of every row
    extras: dict = field(default_factory=dict)  # e.g. Top-K sets [B, T, K]

    @property
    def shape(self) -> tuple[int, int]:
        return self.logp.shape

    def rows(self, idx) -> "Batch":
        """The sub-batch of rows ``idx`` (micro-batch / data-parallel shard)."""
        idx = np.asarray(idx)
        return Batch(self.logp[idx], self.logp_mu[idx], self.adv[idx], self.mask[idx],
                     self.group_ids[idx], {k: v[idx] for k, v in self.extras.items()})

    def replace(self, **kw) -> "Batch":
        d = dict(logp=self.logp, logp_mu=self.logp_mu, adv=self.adv, mask=self.mask,
                 group_ids=self.group_ids, extras=self.extras)
        d.update(kw)
        return Batch(**d)

    def concat(self, other: "Batch") -> "Batch":
        """Rows of ``self`` then ``other`` (same T); group ids of ``other`` shifted to stay apart."""
        off = int(self.group_ids.max(initial=-1)) + 1
        return Batch(*(np.concatenate([a, b]) for a, b in
                       ((self.logp, other.logp), (self.logp_mu, other.logp_mu), (self.adv, other.adv),
                        (self.mask, other.mask))),
                     np.concatenate([self.group_ids, other.group_ids + off]),
                     {k: np.concatenate([v, other.extras[k]]) for k, v in self.extras.items()})


# --- numpy samplers ----------------------------------------------------------------------------

def sample_log_mu(rng: np.random.Generator, n: int, *, min_mu: float = 1e-12,
                  tail_fraction: float = 0.3) -> np.ndarray:
    """log μ [n]: confident tokens (−Exp(0.1)) mixed with a log-uniform tail down to ``min_mu``."""
    lo = math.log(min_mu)
    tail = rng.random(n) < tail_fraction
    head = -rng.exponential(0.1, n)
    return np.where(tail, rng.uniform(lo, 0.0, n), np.maximum(head, lo))


def sample_log_prob_pairs(rng: np.random.Generator, n: int, *, min_mu: float = 1e-12,
                          kinks: Sequence[Kink] = (), extreme: bool = False,
                          max_log_prob: float = MAX_LOG_PROB,
                          log_ratio_bound: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ, ℓ_μ), each [n], from the long-tailed regimes of the module docstring; ``log_ratio_bound``
    narrows |ℓ − ℓ_μ| (default: :data:`BOUNDED_LOG_RATIO`, or :data:`EXTREME_LOG_RATIO` with ``extreme``)."""
    ell_mu = np.minimum(sample_log_mu(rng, n, min_mu=min_mu), max_log_prob)
    kind = rng.integers(0, 5 + bool(kinks) + 4 * extreme, n)
    ell = ell_mu + rng.normal(0.0, 1.0, n) * np.choose(np.minimum(kind, 2), [0.02, 0.3, 1.5])
    indep = kind == 3                       # π independent of μ: large |Δ| on rare tokens
    ell[indep] = np.log(rng.uniform(1e-6, 1.0, indep.sum()))
    on_policy = kind == 4                   # r = 1 exactly
    ell[on_policy] = ell_mu[on_policy]
    if kinks:
        near = np.flatnonzero(kind == 5)
        picks = rng.integers(0, len(kinks), near.size)
        jitter = rng.choice([-1.0, 1.0], near.size) * 10.0 ** rng.uniform(-9, -3, near.size)
        for i, k_idx, j in zip(near, picks, jitter):
            ell[i] = _point_at_kink(kinks[k_idx], ell_mu[i], j)
    bound = EXTREME_LOG_RATIO if extreme else BOUNDED_LOG_RATIO if log_ratio_bound is None else log_ratio_bound
    ell = np.minimum(np.clip(ell, ell_mu - bound, ell_mu + bound), max_log_prob)
    if extreme:   # |log r| in [20, 100]: r → ∞ needs μ far below any float's range (ℓ_μ < −88)
        far = kind >= 5 + bool(kinks)
        up = far & (rng.random(n) < 0.5)
        down = far & ~up
        far_lr = np.where(rng.random(n) < 0.5, rng.uniform(20, bound, n), rng.uniform(0.85 * bound, bound, n))
        ell_mu[up] = ell[up] - far_lr[up]
        ell[down] = ell_mu[down] - far_lr[down]
    if extreme:
        ell[rng.random(n) < 0.02] = -np.inf
    return ell, ell_mu


def _point_at_kink(k: Kink, ell_mu: float, jitter: float) -> float:
    if k.kind == "log_ratio":
        return ell_mu + k.value + jitter
    pi = math.exp(ell_mu) + k.value + jitter          # shift kink: π = μ + Δ
    return math.log(pi) if 0.0 < pi < 1.0 else ell_mu + jitter


def sample_advantages(rng: np.random.Generator, batch: int, length: int, *, group_size: int = 4,
                      per: str = "sequence", std_normalize: bool = False,
                      zero_fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(Â [B, T], group ids [B]): GRPO group-centred outcome rewards (``per="sequence"``), or
    independent per-token values (``per="token"``, e.g. GAE). Some Â are exactly 0."""
    from drpo_analysis.core.advantages import group_advantages

    gids = np.arange(batch) // max(1, group_size)
    if per == "token":
        adv = rng.normal(0.0, 1.0, (batch, length)) * 10.0 ** rng.uniform(-2, 1, (batch, 1))
    elif per == "sequence":
        n_groups = int(gids.max(initial=-1)) + 1
        rewards = np.zeros(n_groups * group_size)
        rewards[:] = rng.choice([0.0, 1.0], rewards.size) + rng.normal(0, 0.1, rewards.size) * rng.integers(0, 2)
        adv = group_advantages(rewards.reshape(n_groups, group_size),
                               std_normalize=std_normalize).reshape(-1)[:batch]
        adv = np.repeat(adv[:, None], length, axis=1)
    else:
        raise ValueError(f"per must be 'sequence' or 'token', got {per!r}")
    zero = rng.random(batch) < zero_fraction
    adv[zero] = 0.0
    return adv, gids


def sample_mask(rng: np.random.Generator, batch: int, length: int, *, empty_rows: bool = False,
                holes: bool = True) -> np.ndarray:
    """mask [B, T]: right padding to a random length ≥ 1 (0 allowed with ``empty_rows``), plus
    occasional interior holes (tool-output tokens masked out of the loss)."""
    lengths = rng.integers(0 if empty_rows else 1, length + 1, batch)
    mask = np.arange(length)[None, :] < lengths[:, None]
    if holes:
        mask &= ~((rng.random((batch, length)) < 0.1) & (rng.random((batch, 1)) < 0.3))
        mask[np.arange(batch), 0] |= lengths > 0   # a hole never empties a row by itself
    return mask


def sample_topk(rng: np.random.Generator, logp: np.ndarray, logp_mu: np.ndarray, k: int = 4) -> dict:
    """Top-K extras [B, T, K]: column 0 is the sampled token, the rest share the remaining mass."""
    rest_mu = -np.expm1(logp_mu)[..., None] * rng.dirichlet(np.ones(k), logp.shape)[..., : k - 1]
    rest_pi = -np.expm1(logp)[..., None] * rng.dirichlet(np.ones(k), logp.shape)[..., : k - 1]
    with np.errstate(divide="ignore"):
        return {"topk_logp_mu": np.concatenate([logp_mu[..., None], np.log(rest_mu)], -1),
                "topk_logp": np.concatenate([logp[..., None], np.log(rest_pi)], -1)}


def sample_batch(rng: np.random.Generator, *, batch: int = 4, length: int = 16,
                 min_mu: float = 1e-12, kinks: Sequence[Kink] = (), extreme: bool = False,
                 adv_per: str = "sequence", group_size: int = 4, std_normalize: bool = False,
                 empty_rows: bool = False, topk: bool = False, log_ratio_bound: float | None = None) -> Batch:
    """A full [B, T] batch (see the samplers above for each option)."""
    ell, ell_mu = sample_log_prob_pairs(rng, batch * length, min_mu=min_mu, kinks=kinks, extreme=extreme,
                                        log_ratio_bound=log_ratio_bound)
    adv, gids = sample_advantages(rng, batch, length, group_size=group_size, per=adv_per,
                                  std_normalize=std_normalize)
    mask = sample_mask(rng, batch, length, empty_rows=empty_rows)
    ell, ell_mu = ell.reshape(batch, length), ell_mu.reshape(batch, length)
    extras = sample_topk(rng, ell, ell_mu) if topk else {}
    return Batch(ell, ell_mu, adv, mask, gids, extras)


# --- hypothesis strategies -----------------------------------------------------------------------

def _seeds():
    from hypothesis import strategies as st
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def log_prob_pairs(*, size: int = 64, min_mu: float = 1e-12, kinks: Sequence[Kink] = (),
                   extreme: bool = False):
    """Strategy of (ℓ, ℓ_μ) arrays [size] from the long-tailed regimes."""
    return _seeds().map(lambda rng: sample_log_prob_pairs(rng, size, min_mu=min_mu, kinks=kinks,
                                                          extreme=extreme))


def advantages(*, batch: int = 8, length: int = 16, group_size: int = 4, per: str = "sequence",
               std_normalize: bool = False):
    """Strategy of (Â [B, T], group ids [B]) in prompt groups."""
    return _seeds().map(lambda rng: sample_advantages(rng, batch, length, group_size=group_size,
                                                      per=per, std_normalize=std_normalize))


def masks(*, batch: int = 8, length: int = 16, empty_rows: bool = False):
    """Strategy of right-padded boolean masks [B, T] with occasional interior holes."""
    return _seeds().map(lambda rng: sample_mask(rng, batch, length, empty_rows=empty_rows))


def batches(*, max_batch: int = 8, max_len: int = 32, **options):
    """Strategy of :class:`Batch` with hypothesis-drawn B ∈ [1, max_batch], T ∈ [1, max_len];
    ``options`` go to :func:`sample_batch` (min_mu, kinks, extreme, adv_per, group_size, ...)."""
    from hypothesis import strategies as st
    return st.builds(lambda rng, b, t: sample_batch(rng, batch=b, length=t, **options),
                     _seeds(), st.integers(1, max_batch), st.integers(1, max_len))


@dataclass
class PackedBatch:
    """Packed 1-D layout: all sequences concatenated, no padding (``seq_lens`` [B] sums to N)."""

    logp: np.ndarray      # [N]
    logp_mu: np.ndarray   # [N]
    adv: np.ndarray       # [N]
    seq_lens: np.ndarray  # [B]

    def to_padded(self) -> Batch:
        """The equivalent right-padded [B, max len] batch (padding filled with log 1/2, Â = 0)."""
        b, t = len(self.seq_lens), int(self.seq_lens.max(initial=1))
        mask = np.arange(t)[None, :] < self.seq_lens[:, None]
        out = [np.full((b, t), math.log(0.5)) for _ in range(2)] + [np.zeros((b, t))]
        for a, src in zip(out, (self.logp, self.logp_mu, self.adv)):
            a[mask] = src
        return Batch(out[0], out[1], out[2], mask, np.arange(b))


def packed_batches(*, max_batch: int = 8, max_len: int = 32, **options):
    """Strategy of :class:`PackedBatch` (the valid tokens of :func:`batches`, concatenated)."""
    return batches(max_batch=max_batch, max_len=max_len, **options).map(
        lambda b: PackedBatch(b.logp[b.mask], b.logp_mu[b.mask], b.adv[b.mask], b.mask.sum(-1)))
