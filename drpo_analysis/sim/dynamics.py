"""Softmax-policy RL dynamics under a stale, mismatched behaviour policy, driven by the registry.

The model (a tabular caricature of LLM RL with a verifiable reward):

* ``P`` prompts, each answered by a response of ``L`` tokens; position ``t`` of prompt ``p`` is a
  context ``c = (p, t)`` with its own logits ``z_c ∈ R^V`` (the parameters), initialised to a
  long-tailed distribution (:func:`vocab.context_logits`).
* Reward: 1 iff every token of the response lies in its context's correct set (``n_correct``
  tokens; on a ``hard_frac`` share of contexts the set excludes the initial top-1 token, so the
  policy must move mass into its tail). Every token of a response gets the response's
  group-centred advantage (:func:`advantages.group_advantages`, ``G`` responses per prompt), so
  correct tokens in failed responses are pushed down, as in LLM RL with outcome rewards.
* Rollouts are sampled from the behaviour policy μ: the parameters of ``staleness`` rollouts ago
  passed through a :func:`vocab.apply_mismatch` (bf16 / fp8 rounding, logit noise, ...). Each rollout
  is followed by ``updates`` gradient steps on the same data (PPO-style epochs, so the later
  steps are off-policy).
* ``shared_dim = d > 0`` replaces the per-context logits by shared parameters
  ``z_c = z0_c + E_c θ`` (fixed unit embeddings ``E_c ∈ R^d``, ``θ ∈ R^{d×V}``), so updates in one
  context spill into the others, as they do through an LLM's shared weights.
* Each step ascends the method's exact per-token gradient ``∂J/∂ℓ`` from the registry
  (:func:`losses_np.gradient`), chained through the softmax: ``∂ℓ_a/∂z = e_a − π`` (so
  ``Δz_c = lr · (1/G) Σ_{tokens in c} ∂J/∂ℓ · (e_a − π_c)``, token-mean over the group).
* Methods with extra inputs get them from the simulator's state (:func:`method_extras`): Top-K
  DPPO the log-probabilities under μ and π of top-K(μ) ∪ {sampled} (K = 20 as in DPPO, or
  ``"dppo_topk_tv:K=50"``; the set is chosen once per rollout, from μ), GSPO the frozen mean of
  ``ℓ − ℓ_μ`` over each response's ``L`` tokens and ``|y| = L``. The other methods' path is
  untouched (they get no extras and consume no random numbers of their own).

Runs are vectorised over methods (the ``M`` axis, with common random numbers: every method sees
the same uniforms) and seeds (``S``). Tracked per rollout, method and seed: rollout reward,
expected reward under π, mean / max ``|π − μ|`` of sampled tokens, full TV(μ, π) of the last
update, entropy of π, share of tokens masked (weight 0) or attenuated (weight < ATTENUATED = 0.9,
so a 10% cut at least; the weight is ``w = (∂J/∂ℓ)/(Â r)`` against the token ratio r, so for GSPO
it also carries ``S/r`` and, in the sequence form, the ``1/|y|`` factor), and collapse
(first rollout where the expected reward is below half its running peak after rising by 0.1,
or the logits are non-finite; observed only, the run goes on and may recover).
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from drpo_analysis.core import validate, advantages, losses_np, methods
from drpo_analysis.core.methods.spec import TOPK, MethodSpec  # noqa: F401 (re-exported)
from drpo_analysis.core.divergences import topk_columns, topk_ids
from drpo_analysis.core.methods.base import BatchInputs, build_extras
from drpo_analysis.util import io
from drpo_analysis.util.stats import bootstrap_ci
from drpo_analysis.sim.vocab import MISMATCH, Vocabulary, apply_mismatch, context_logits

METRICS = ("reward", "reward_pi", "shift_mean", "shift_max", "tv", "entropy", "masked",
           "attenuated", "collapsed")
ATTENUATED = 0.9  # a token counts as attenuated when its weight w < 0.9 (w = 0: masked)
MAX_ELEMENTS = 1 << 28  # M·S·C·V logits per array (1 GiB float32); larger runs must be split


@dataclass(frozen=True)
class DynamicsSettings:
    """One vectorised dynamics run (all methods × all seeds)."""

    methods: tuple[str, ...] = ("pg_is", "ppo_clip", "dppo_binary_tv", "spo", "drpo")
    seeds: int = 4
    prompts: int = 16
    length: int = 4
    group: int = 8
    vocab: Vocabulary = field(default_factory=lambda: Vocabulary(V=1024))
    n_correct: int = 2
    hard_frac: float = 0.3
    steps: int = 200
    updates: int = 4
    lr: float = 2.0
    staleness: int = 0
    mismatch: str = "noise=0.3"
    shared_dim: int = 0
    std_normalize: bool = False
    seed: int = 0

    def __post_init__(self):
        if not self.methods:
            raise ValueError("methods must name at least one registry method")
        specs = [MethodSpec.parse(m) for m in self.methods]
        if len({sp.label for sp in specs}) != len(specs):
            raise ValueError(f"methods must be distinct, got {list(self.methods)}")
        for sp in specs:
            if sp.k is not None and sp.k > self.vocab.V - 1:
                raise ValueError(f"method {sp.label!r}: K must be in [1, V-1] = "
                                 f"[1, {self.vocab.V - 1}], got {sp.k}")
        for name, low in (("seeds", 1), ("prompts", 1), ("length", 1), ("group", 2),
                          ("n_correct", 1), ("steps", 1), ("updates", 1), ("staleness", 0),
                          ("shared_dim", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.n_correct >= self.vocab.V // 2:
            raise ValueError(f"n_correct must be < V/2 = {self.vocab.V // 2}, got {self.n_correct}")
        validate.real_scalar("hard_frac", self.hard_frac, low=0.0, high=1.0)
        validate.real_scalar("lr", self.lr, low=0.0, low_open=True)
        MISMATCH.parse(self.mismatch)
        n = len(self.methods) * self.seeds * self.prompts * self.length * self.vocab.V
        if n > MAX_ELEMENTS:
            raise ValueError(f"methods × seeds × prompts × length × V = {n} logits exceeds "
                             f"{MAX_ELEMENTS}; lower seeds, prompts or vocab V")

    @property
    def contexts(self) -> int:
        return self.prompts * self.length


def _log_softmax(z: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis into ``out`` (float32; normaliser summed in float64);
    ``tmp`` is a scratch buffer of the same shape (no temporaries allocated)."""
    np.subtract(z, z.max(-1, keepdims=True), out=out)
    np.exp(out, out=tmp)
    out -= np.log(tmp.sum(-1, keepdims=True, dtype=np.float64)).astype(np.float32)
    return out


def _task(s: DynamicsSettings, rng: np.random.Generator):
    """Initial logits [S, C, V] float32 and correct-token sets [S, C, V] bool."""
    S, C, V = s.seeds, s.contexts, s.vocab.V
    z0 = context_logits(s.vocab, rng, S * C).reshape(S, C, V)
    order = np.argsort(-z0, axis=-1, kind="stable")                    # [S, C, V] ranks
    hard = rng.random((S, C)) < s.hard_frac                            # [S, C]
    pool = min(32, V - 1)
    pick = np.argsort(rng.random((S, C, pool)), axis=-1)[..., :s.n_correct]   # [S, C, k] in pool
    ranks = np.where(hard[..., None], 1 + pick, np.concatenate(
        [np.zeros((S, C, 1), np.int64), 1 + pick[..., :s.n_correct - 1]], -1))
    correct = np.zeros((S, C, V), bool)
    np.put_along_axis(correct, np.take_along_axis(order, ranks, -1), True, -1)
    return z0, correct


def _sample(p: np.ndarray, u: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: p [R, V] probabilities, u [R, G] uniforms in [0, 1) → tokens [R, G].

    One cumulative sum over all rows at once (float64, ``cdf`` is a [R, V] work buffer), so row i
    spans ``[C_{i−1}, C_i)`` and a single ``searchsorted`` serves every row; the resolution is
    ``R · 2^-52`` (below 1e-12 for R < 4000 rows).
    """
    R, V = p.shape
    flat = cdf.reshape(-1)
    np.cumsum(p.reshape(-1), dtype=np.float64, out=flat)
    hi = cdf[:, -1]                                                     # [R] row ends C_i
    lo = np.concatenate([[0.0], hi[:-1]])                               # [R] row starts
    target = lo[:, None] + u * (hi - lo)[:, None]                       # [R, G]
    idx = np.searchsorted(flat, target.reshape(-1), side="right").reshape(R, -1)
    return np.clip(idx - np.arange(R)[:, None] * V, 0, V - 1)


def token_gradients(specs, ell, ell_mu, adv, extras=None) -> np.ndarray:
    """Per-token ``∂J/∂ℓ`` of each method from the registry: inputs [M, ...] → [M, ...] float64.

    extras: per method, ``None`` or the dict of its extra inputs (:func:`method_extras`)."""
    extras = extras or [None] * len(specs)
    return np.stack([losses_np.gradient(sp.name, ell[i], ell_mu[i], adv[i], params=dict(sp.params),
                                        extras=extras[i])
                     for i, sp in enumerate(specs)])


def method_extras(spec: MethodSpec, ell, ell_mu, length: int, lp=None, topk_mu=None, top=None,
                  tok=None) -> dict | None:
    """The extra inputs of ``spec``'s method for one method's tokens (``None`` if it needs none),
    each from the registry's own builder (:func:`~drpo_analysis.core.methods.base.build_extras`).

    ell, ell_mu: [S, C, G] sampled-token log-probabilities, contexts ``C = P·L`` prompt-major; a
    response is prompt p, group member g, positions t = 0..L−1, all valid. Top-K DPPO (§4.2):
    the μ columns ``topk_mu`` are fixed per rollout, the π columns are the same tokens (``top``
    [S·C, K] ids, ``tok`` [S, C, G] sampled) read from the current log π ``lp`` [S, C, V]; both
    [S, C, G, K+1].
    """
    m = methods.get(spec.name)
    if not m.extras:
        return None
    S, C, G = ell.shape

    def rows(a):   # [S, C, G, ...] → [S·P·G, L, ...], one row per response
        a = a.reshape(S, C // length, length, G, *a.shape[3:])
        return np.moveaxis(a, 2, 3).reshape(-1, length, *a.shape[4:])

    def back(a):   # the inverse of rows
        a = a.reshape(S, C // length, G, length, *a.shape[2:])
        return np.moveaxis(a, 3, 2).reshape(S, C, G, *a.shape[4:])

    topk = "topk_logp" in m.batch_fields
    topk_pi = topk_columns(lp.reshape(-1, lp.shape[-1]), top, tok.reshape(-1, G)).reshape(topk_mu.shape) \
        if topk else None
    batch = BatchInputs(rows(ell), rows(ell_mu), np.ones((S * C * G // length, length), bool),
                        rows(topk_mu) if topk else None, rows(topk_pi) if topk else None)
    return {k: back(v) for k, v in build_extras(m, batch).items()}


def logit_gradient(g: np.ndarray, pi: np.ndarray, tok: np.ndarray, out: np.ndarray | None = None):
    """Chain rule through the softmax, ``∂ℓ_a/∂z = e_a − π``: for each context row,
    ``Σ_g g_g (e_{a_g} − π) = scatter(g) − (Σ_g g) π``.

    g: [..., G] per-token ∂J/∂ℓ; pi: [..., V] probabilities; tok: [..., G] sampled ids.
    Returns [..., V] float32 (written into ``out``, which may be ``pi`` itself).
    """
    V, G = pi.shape[-1], g.shape[-1]
    out = np.multiply(pi, -g.sum(-1, keepdims=True).astype(np.float32), out=out)
    rows = np.arange(out.size // V, dtype=np.int64)[:, None] * V          # flat row offsets
    np.add.at(out.reshape(-1), (rows + tok.reshape(-1, G)).reshape(-1),
              g.reshape(-1).astype(np.float32))
    return out


def run(settings: DynamicsSettings, *, progress: bool = False) -> dict:
    """Simulate; returns ``{"settings", "methods", "history": {metric: [steps, M, S]},
    "collapse_step": [M, S] (−1 = none), "token_updates"}``. Bitwise reproducible per seed."""
    from tqdm import tqdm

    s = settings
    specs = [MethodSpec.parse(m) for m in s.methods]
    mm = MISMATCH.parse(s.mismatch)
    M, S, P, L, G, V, C = len(specs), s.seeds, s.prompts, s.length, s.group, s.vocab.V, s.contexts
    rng = np.random.default_rng(s.seed)
    z0, correct = _task(s, rng)
    z = np.broadcast_to(z0, (M, S, C, V)).copy()                       # [M, S, C, V] logits
    if s.shared_dim:
        # Shared parameters: z = z0 + E θ with fixed unit context embeddings E [S, C, d] and
        # θ [M, S, d, V] trained, so an update in one context moves the others (interference).
        E = rng.standard_normal((S, C, s.shared_dim)).astype(np.float32)
        E /= np.linalg.norm(E, axis=-1, keepdims=True)
        E_t = np.ascontiguousarray(E.transpose(0, 2, 1))                # [S, d, C]
        theta = np.zeros((M, S, s.shared_dim, V), np.float32)
    lag = [z.copy() for _ in range(s.staleness)]                       # snapshots, oldest first
    # Work buffers, allocated once (large temporaries inside the loop cost 2.5-3x, docs/design.md#performance).
    zmu, lmu, mu_p, lp, pi, tmp = (np.empty((M, S, C, V), np.float32) for _ in range(6))
    cdf = np.empty((M * S * C, V), np.float64)
    hist = {k: np.zeros((s.steps, M, S)) for k in METRICS}
    alive = np.ones((M, S), bool)          # False once a run's logits went non-finite (frozen)
    collapsed = np.zeros((M, S), bool)
    peak = np.full((M, S), -np.inf)
    first = None
    collapse = np.full((M, S), -1, np.int64)
    noise_rng = np.random.default_rng([s.seed, 1])
    for step in tqdm(range(s.steps), desc="dynamics", disable=not progress, leave=False):
        behaviour = lag[0] if lag else z
        state = noise_rng.bit_generator.state
        for i in range(M):   # the same mismatch noise for every method (common random numbers)
            noise_rng.bit_generator.state = state
            apply_mismatch(mm, behaviour[i].reshape(-1, V), zmu[i].reshape(-1, V), noise_rng)
        if lag:   # this rollout's parameters become the behaviour `staleness` rollouts later
            oldest = lag.pop(0)
            np.copyto(oldest, z)
            lag.append(oldest)
        _log_softmax(zmu, lmu, tmp)
        np.exp(lmu, out=mu_p)
        u = np.broadcast_to(rng.random((1, S, C, G)), (M, S, C, G))   # common random numbers
        tok = _sample(mu_p.reshape(-1, V), u.reshape(-1, G), cdf).reshape(M, S, C, G)
        ell_mu = np.take_along_axis(lmu, tok, -1).astype(np.float64)   # [M, S, C, G]
        # Top-K(μ) per context, chosen once per rollout (μ is fixed during its updates)
        tops = [topk_ids(lmu[i].reshape(-1, V), sp.k) if sp.k else None for i, sp in enumerate(specs)]
        topk_mu = [topk_columns(lmu[i].reshape(-1, V), t, tok[i].reshape(-1, G)).reshape(S, C, G, -1)
                   if t is not None else None for i, t in enumerate(tops)]   # [S, C, G, K+1]
        hit = np.take_along_axis(np.broadcast_to(correct, (M, S, C, V)), tok, -1)
        reward = hit.reshape(M, S, P, L, G).all(3).astype(np.float64)   # [M, S, P, G]
        adv = advantages.group_advantages(reward.reshape(-1, G), std_normalize=s.std_normalize)
        adv = np.broadcast_to(adv.reshape(M, S, P, 1, G), (M, S, P, L, G)).reshape(M, S, C, G)
        shift_sum = np.zeros((M, S))
        shift_max = np.zeros((M, S))
        masked = np.zeros((M, S))
        atten = np.zeros((M, S))
        for k in range(s.updates):
            _log_softmax(z, lp, tmp)                                    # [M, S, C, V]
            np.exp(lp, out=pi)
            if k == 0:
                hist["entropy"][step] = -np.multiply(pi, lp, out=tmp).sum(-1, dtype=np.float64).mean(-1)
                p_ok = np.multiply(pi, correct, out=tmp).sum(-1, dtype=np.float64)   # [M, S, C]
                hist["reward_pi"][step] = p_ok.reshape(M, S, P, L).prod(-1).mean(-1)
            if k == s.updates - 1:
                np.abs(np.subtract(pi, mu_p, out=tmp), out=tmp)
                hist["tv"][step] = 0.5 * tmp.sum(-1, dtype=np.float64).mean(-1)
            ell = np.take_along_axis(lp, tok, -1).astype(np.float64)   # [M, S, C, G]
            shift = np.abs(np.exp(ell) - np.exp(ell_mu))
            shift_sum += shift.mean((-1, -2))
            shift_max = np.maximum(shift_max, shift.max((-1, -2)))
            extras = [method_extras(sp, ell[i], ell_mu[i], L, lp[i], topk_mu[i], tops[i], tok[i])
                      for i, sp in enumerate(specs)]
            g_raw = token_gradients(specs, ell, ell_mu, adv, extras)   # [M, S, C, G]
            g = np.where(alive[:, :, None, None], g_raw, 0.0)
            nz = adv != 0
            with np.errstate(over="ignore", invalid="ignore"):
                w = np.where(nz, g_raw / np.where(nz, adv * np.exp(ell - ell_mu), 1.0), 1.0)
            n_nz = np.maximum(nz.sum((-1, -2)), 1)
            masked += (nz & (w == 0)).sum((-1, -2)) / n_nz
            atten += (nz & (w < ATTENUATED)).sum((-1, -2)) / n_nz
            grad = logit_gradient(g, pi, tok, out=pi)                    # [M, S, C, V]
            grad *= np.float32(s.lr / G)
            if s.shared_dim:
                theta += np.matmul(E_t, grad)                            # [M, S, d, V]
                np.matmul(E, theta, out=z)
                z += z0
            else:
                z += grad
        hist["reward"][step] = reward.mean((-1, -2))
        hist["shift_mean"][step] = shift_sum / s.updates
        hist["shift_max"][step] = shift_max
        hist["masked"][step] = masked / s.updates
        hist["attenuated"][step] = atten / s.updates
        finite = np.isfinite(z).all((-1, -2))
        rp = hist["reward_pi"][step]
        first = rp.copy() if first is None else first
        peak = np.maximum(peak, rp)
        # Collapse is observed, not enforced: a run keeps training after it (and may recover);
        # only a run whose logits went non-finite is frozen, its parameters sanitised.
        down = (~finite) | ((peak > first + 0.1) & (rp < 0.5 * peak))
        collapse[down & ~collapsed] = step
        collapsed |= down
        alive &= finite
        hist["collapsed"][step] = collapsed
        if not finite.all():
            z[~finite] = np.nan_to_num(z[~finite], nan=0.0, posinf=0.0, neginf=0.0)
            if s.shared_dim:
                theta[~finite] = 0.0
    return {"settings": settings_dict(s), "methods": [sp.label for sp in specs], "history": hist,
            "collapse_step": collapse, "token_updates": int(s.steps * s.updates * M * S * C * G)}


def settings_dict(s: DynamicsSettings) -> dict:
    d = asdict(s)
    d["methods"] = list(s.methods)
    return d



def summarize(result: dict, *, tail: float = 0.1) -> list[dict]:
    """Per method: final expected reward (mean of the last ``tail`` share of steps) with a
    bootstrap CI over seeds, collapse rate, peak max |π − μ|, final TV and entropy."""
    h = result["history"]
    steps = h["reward"].shape[0]
    last = slice(max(0, steps - max(1, int(round(tail * steps)))), steps)
    final = h["reward_pi"][last].mean(0)                                # [M, S]
    mean, lo, hi = bootstrap_ci(final, axis=-1)
    rows = []
    for i, label in enumerate(result["methods"]):
        cs = result["collapse_step"][i]
        rows.append({
            "method": label, "final_reward_pi": float(mean[i]), "ci_low": float(lo[i]),
            "ci_high": float(hi[i]), "collapse_rate": float((cs >= 0).mean()),
            "first_collapse": int(cs[cs >= 0].min()) if (cs >= 0).any() else None,
            "max_shift_max": float(h["shift_max"][:, i].max()),
            "final_tv": float(h["tv"][last, i].mean()),
            "final_entropy": float(h["entropy"][last, i].mean()),
            "masked": float(h["masked"][:, i].mean()), "attenuated": float(h["attenuated"][:, i].mean()),
        })
    return rows


# ------------------------------------------------------------------------- sweeps ----------

def _key(overrides: dict) -> str:
    return hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:16]


def grid(axes: dict[str, Iterable]) -> list[dict]:
    """The cartesian product of ``axes`` ({setting name: values}) as a list of override dicts."""
    names = list(axes)
    for n in names:
        if n not in DynamicsSettings.__dataclass_fields__:
            raise ValueError(f"unknown sweep axis {n!r}; accepted: "
                             f"{sorted(DynamicsSettings.__dataclass_fields__)}")
    return [dict(zip(names, vals)) for vals in itertools.product(*(list(axes[n]) for n in names))]


CURVES = ("reward_pi", "shift_max", "tv", "entropy", "attenuated")


def sweep(base: DynamicsSettings, points: list[dict], out: str | Path | None = None, *,
          progress: bool = False, per_seed: bool = False) -> list[dict]:
    """Run ``base`` with each override dict of ``points``; one JSON line per point is appended
    to ``out`` as soon as it finishes, and points already in ``out`` are not run again (resume).

    Returns the records ``{"key", "overrides", "methods", "summary", "curves": {metric: [steps, M]
    seed means, or [steps, M, S] with per_seed}}`` in ``points`` order.
    """
    from tqdm import tqdm

    done: dict[str, dict] = {}
    path = Path(out) if out else None
    if path:
        io.writable_file(path)
        for rec in io.read_jsonl(path, repair=True):   # a torn last line is dropped: that point runs again
            done[rec["key"]] = rec
    settings = [replace(base, **p) for p in points]   # validates every point before running
    records = []
    for p, st in tqdm(list(zip(points, settings)), desc="sweep", disable=not progress):
        key = _key({"base": settings_dict(base), "point": p, "per_seed": per_seed})
        if key in done:
            records.append(done[key])
            continue
        res = run(st)
        h = res["history"]
        rec = {"key": key, "overrides": p, "methods": res["methods"], "summary": summarize(res),
               "curves": {m: np.round(h[m] if per_seed else h[m].mean(-1), 6).tolist()
                          for m in CURVES}}
        if path:
            io.append_jsonl(path, rec)
        records.append(rec)
    return records
