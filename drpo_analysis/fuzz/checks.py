"""The named checks. Each one turns a seed into batches, calls the target through :func:`probe`
and returns the first failing :class:`Probe` (or None) plus a line of detail for the report.

| check | what must hold |
|---|---|
| ``gradient`` | ∂loss/∂ℓ (and the value where meaningful) equal the reference on drawn fp32 batches and on one batch of thousands of tokens (chunked or size-dependent code) |
| ``on_policy`` | with ``old = current.detach()`` (r ≡ 1) the gradient is the unclipped reference |
| ``stop_gradient`` | probes where misplaced stop-gradients show most (rare tokens, |ℓ| ∈ [5, 25], inside
  the trust region, where a frozen factor written without ``detach`` adds Â·ℓ·∂w/∂ℓ), with ℓ_μ and Â
  passed as tensors that require grad (an old-policy forward without ``no_grad``, advantages from a
  critic): ∂loss/∂ℓ must still be the reference's |
| ``region_coverage`` | agreement on tokens stratified over sign(Â) × every Piecewise region of the
  method's gradient × sign of the weight, including rare tokens (μ down to 1e−12) |
| ``aggregation`` | micro-batch and data-parallel splits with global counts sum to the full batch;
  duplicated and reordered batches agree with the reference |
| ``padding`` | ±1e4, ±inf, NaN at masked positions, extra padded columns, all-masked rows change
  nothing, masked gradients are exactly 0; all-masked and empty batches give a finite 0 |
| ``overflow`` | log-ratios up to ±100 and π = 0 (ℓ = −inf): finite and equal to the reference with
  the log-ratio clamped at the implementation's documented clamp, or else at the dtype's
  ``log(finfo.max) − 8`` (beyond it the exact value is not representable); tokens whose clamped
  reference itself overflows the dtype (SPO's r² at r = e^80, GPG's Âℓ at π = 0) are masked out |
| ``dtype`` | float64, bfloat16 and float16 inputs agree within the dtype's tolerance (|log r| ≤ 8
  so that the true gradient is representable in the input dtype); float16 batches with rare tokens
  at log r ∈ [11.5, 13], past float16's exp range: an overflow there is an edge case (log-probs
  passed in float32 never meet it) |

Misbehaviour (raises, timeout, NaN, non-scalar, no gradient, inputs modified in place) is reported
by whichever check met it; after a timeout the remaining checks are skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from drpo_analysis.core import methods
from drpo_analysis.fuzz import oracle, verdict
from drpo_analysis.fuzz.strategies import Batch, sample_batch
from drpo_analysis.fuzz.targets import BOUND_PAIRS, Outcome, Target, call, round_to

PAD_VALUES = (0.0, 1e4, -1e4, math.inf, -math.inf, math.nan)   # 0.0: the usual fill of real pipelines
HALF_LOG_RATIO = 5.0    # float16 probes: r ≤ e^5 ≈ 148, so r² (SPO, DRPO penalties) stays below 65504


@dataclass
class Probe:
    """One comparison of the target with the reference on one batch (the unit of a reproducer)."""

    batch: Batch
    dtype: str = "float32"
    on_policy: bool = False
    grad_inputs: bool = False
    shards: list | None = None          # row index lists: sum of contributions with global counts
    dp: bool = False                    # shards are data-parallel ranks (dp_size = len(shards))
    clamp_to_dtype: bool = False        # overflow semantics (see module docstring)
    sub: str = ""                       # the sub-check: which kind of probe this is
    variant: Target | None = None       # the target configured otherwise (sweeps): run this instead
    # filled in on failure
    kind: str = ""
    message: str = ""
    expected: float | None = None
    got: float | None = None
    index: tuple | None = None
    severity: str = ""                  # verdict.EDGE or verdict.DEVIATES
    explanation: str = ""
    fix: str = ""                       # a fix the check diagnosed (else the verdict table's)
    recipe: str = ""                    # a call of this module rebuilding ``batch`` (large batches)

    def counterexample(self) -> dict:
        """The batch (nested lists) and call options, the token a mismatch names."""
        b = self.batch
        ce = {"logp": b.logp.tolist(), "logp_mu": b.logp_mu.tolist(), "adv": b.adv.tolist(),
              "mask": b.mask.tolist(), **self.options()}
        if self.index is not None:
            ce["token"] = list(self.index)
        return ce

    def options(self) -> dict:
        out = {"dtype": self.dtype}
        for k in ("on_policy", "grad_inputs", "dp", "clamp_to_dtype"):
            if getattr(self, k):
                out[k] = True
        if self.shards is not None:
            out["shards"] = [list(map(int, s)) for s in self.shards]
        return out


def dtype_clamp(dtype: str) -> float:
    """The largest |log r| whose exp is finite with room to spare: ``log(finfo.max) − 8`` of the
    dtype the arithmetic runs in (half precision computes in float32, see losses_torch)."""
    compute = "float64" if dtype == "float64" else "float32"
    return float(np.log(np.finfo(compute).max) - 8.0)


def conventions_for(target: Target, p: Probe) -> oracle.Conventions:
    conv = target.conventions
    # a truncated IS weight min(r, C) stays C where exp overflows: nothing to clamp in the reference
    if p.clamp_to_dtype and conv.log_ratio_clamp is None and conv.is_truncation is None:
        b = dtype_clamp(p.dtype)
        conv = replace(conv, log_ratio_clamp=(-b, b), clamp_scope="ratio")   # only exp(ℓ − ℓ_μ) overflows
    return conv


def probe(target: Target, p: Probe, notes: dict | None = None) -> Probe | None:
    """Run one probe; the failing probe (with kind/message/expected/got) or None if it conforms.
    ``notes`` (counts by text) gets the subgradients at kinks and the tokens where a declared
    log-ratio clamp froze the gradient."""
    target = p.variant or target
    batch = round_to(p.batch, p.dtype)
    conv = conventions_for(target, p)
    if notes is not None and target.conventions.log_ratio_clamp is not None:
        lo, hi = target.conventions.log_ratio_clamp
        with np.errstate(invalid="ignore"):
            lr = (batch.logp - batch.logp_mu)[batch.mask]
        n = int(((lr < lo) | (lr > hi)).sum())
        if n:
            key = f"declared log_ratio_clamp [{lo:g}, {hi:g}]: tokens beyond it (gradient frozen to 0)"
            notes[key] = notes.get(key, 0) + n
    counts = conv.global_counts(batch) if p.shards is not None else {}
    exp = oracle.expected(target.method, target.params, batch, conv, dtype=p.dtype, **counts)
    if p.shards is None:
        out = call(target, batch, p.dtype, on_policy=p.on_policy, grad_inputs=p.grad_inputs)
        if p.on_policy:
            exp = oracle.expected(target.method, target.params, batch.replace(logp_mu=batch.logp), conv,
                                  dtype=p.dtype)
    else:
        out = _sharded_call(target, batch, p, counts)
    if out.error:
        if not (out.error == "non-finite" and not np.isfinite(exp.grad).all()):
            index = None
            if out.grad is not None and out.grad.shape == batch.shape:
                culprits = np.argwhere(~np.isfinite(out.grad) & batch.mask)
                if not len(culprits) and batch.mask.any():     # only the value: the largest |log r|
                    with np.errstate(invalid="ignore"):
                        lr = np.where(batch.mask, np.nan_to_num(np.abs(batch.logp - batch.logp_mu), nan=-1.0), -1.0)
                    culprits = [np.unravel_index(int(np.argmax(lr)), lr.shape)]
                index = tuple(int(i) for i in culprits[0]) if len(culprits) else None   # the first valid one
            got = out.loss     # a non-finite gradient under a finite loss: the gradient entry is what failed
            if (out.error == "non-finite" and index is not None and out.loss is not None and np.isfinite(out.loss)
                    and out.grad is not None):
                got = float(out.grad[index])
            return replace(p, kind=out.error, message=out.message, got=got, index=index)
    if out.grad.shape != batch.shape:
        return replace(p, kind="wrong-shape", message=f"gradient shape {list(out.grad.shape)} != {list(batch.shape)}")
    mm = oracle.compare(exp, batch.mask, out.grad, out.loss, p.dtype, notes)
    nonempty = np.flatnonzero(batch.mask.any(-1))
    if (mm is not None and (conv.agg.startswith("seq-mean") or conv.agg == "prompt-mean")
            and 0 < nonempty.size < batch.shape[0]
            and probe(target, replace(p, batch=p.batch.rows(nonempty), shards=None, dp=False)) is None):
        # rows (prompt-mean: groups) without tokens: counting them in the mean or not are both
        # conventions (the batch without them conforms; with them, it must conform under the other)
        other = replace(conv, count_empty_rows=not conv.count_empty_rows)
        counts = other.global_counts(batch) if p.shards is not None else {}
        if p.shards is not None:
            out = _sharded_call(target, batch, p, counts)
        if not out.error:
            alt = oracle.expected(target.method, target.params, batch, other, dtype=p.dtype, **counts)
            if oracle.compare(alt, batch.mask, out.grad, out.loss, p.dtype) is None:
                what, unit = ("prompt mean", "groups") if conv.agg == "prompt-mean" else ("sequence mean", "rows")
                key = f"{what} {'counts' if other.count_empty_rows else 'skips'} {unit} without tokens"
                if notes is not None:
                    notes[key] = notes.get(key, 0) + 1
                return None
    if mm is not None and conv.log_ratio_clamp is not None and not out.error:
        # a declared clamp bites: applying it everywhere r appears (π = μ·r frozen too) or to the
        # ratio alone (π, μ from the raw log-probs, e.g. a DPPO mask on π − μ) are both conventions
        scopes = [s_ for s_ in oracle.CLAMP_SCOPES if s_ != conv.clamp_scope]
        other = replace(conv, clamp_scope=scopes[0])
        alt_batch = batch.replace(logp_mu=batch.logp) if p.on_policy else batch
        alt = oracle.expected(target.method, target.params, alt_batch, other, dtype=p.dtype,
                              **(other.global_counts(batch) if p.shards is not None else {}))
        if oracle.compare(alt, batch.mask, out.grad, out.loss, p.dtype) is None:
            key = f"declared log_ratio_clamp applied {'to the ratio only' if other.clamp_scope == 'ratio' else 'everywhere'}"
            if notes is not None:
                notes[key] = notes.get(key, 0) + 1
            return None
    if mm is None:
        return None
    return replace(p, kind=f"{mm.what} mismatch", message=mm.detail, expected=mm.expected, got=mm.got,
                   index=mm.index)


def _sharded_call(target: Target, batch: Batch, p: Probe, counts: dict) -> Outcome:
    """Σ over shards of the target's contribution, each computed with the global counts."""
    grad = np.zeros(batch.shape)
    loss = 0.0
    dp = len(p.shards) if p.dp else None
    for rows in p.shards:
        out = call(target, batch.rows(rows), p.dtype, dp_size=dp, **counts)
        if out.error:
            return out
        grad[np.asarray(rows)] += out.grad
        loss += out.loss
    return Outcome(loss=loss, grad=grad)


@dataclass
class Context:
    target: Target
    rng: np.random.Generator
    examples: int
    batch: int = 6
    length: int = 12
    notes: dict = field(default_factory=dict)       # shared by the run: counts by note text

    @property
    def method(self):
        return methods.get(self.target.method)

    @property
    def adv_per(self) -> str:
        seq = self.target.adv_per_sequence or self.method.per_sequence
        return "sequence" if seq or self.rng.random() < 0.5 else "token"

    def sample(self, **kw) -> Batch:
        opts = dict(batch=int(self.rng.integers(1, self.batch + 1)), length=int(self.rng.integers(1, self.length + 1)),
                    kinks=oracle.kinks(self.target.method, self.target.params), adv_per=self.adv_per,
                    topk="topk_logp" in self.method.batch_fields)
        opts.update(kw)
        return sample_batch(self.rng, **opts)


@dataclass
class CheckResult:
    name: str
    status: str = "passed"              # passed, edge cases, failed, skipped, error
    examples: int = 0
    detail: str = ""
    failures: list = field(default_factory=list)    # edge cases (one per sub-check), then a deviation
    coverage: dict = field(default_factory=dict)

    @property
    def failure(self) -> Probe | None:
        return self.failures[-1] if self.failures else None

    def add(self, ctx: "Context", bad: Probe | None) -> bool:
        """Record a failing probe (classified); True when the check should stop (a deviation or
        a timeout). Edge cases are kept once per (sub-check, kind) and the check goes on."""
        if bad is None:
            return False
        sev, why = verdict.classify(self.name, bad.kind, bad.counterexample(), ctx.target.method, ctx.target.params)
        if (sev == verdict.DEVIATES and bad.kind == "non-finite" and bad.shards is None
                and not bad.batch.mask.any() and ctx.target.takes_global_counts):
            sev, why = verdict.EDGE, ("no valid token in the whole optimiser step (global count 0): the target "
                                      "divides an empty micro-batch by the global count, which real steps keep > 0")
        bad = replace(bad, severity=sev, explanation=why)
        if sev == verdict.EDGE:
            if all((f.sub, f.kind) != (bad.sub, bad.kind) for f in self.failures):
                self.failures.append(bad)
            if self.status == "passed":
                self.status = "edge cases"
            return bad.kind == "timeout"
        self.failures.append(bad)
        self.status = "failed"
        return True


def _run(name: str, ctx: Context, probes) -> CheckResult:
    res = CheckResult(name)
    for p in probes:
        res.examples += 1
        if res.add(ctx, probe(ctx.target, p, ctx.notes)):
            return res
    return res


#: the large batch of the gradient check, [B, T]: thousands of valid tokens, so a chunked or
#: otherwise size-dependent path (taken above 1024, 2048 or 4096 tokens, say) runs with a partial
#: tail; |log r| ≤ 2 there, so no single extreme ratio sets the tolerance's scale (atol · max|grad|)
#: above the ~1/N gradient of an ordinary token, which a dropped token would otherwise hide under
LARGE_BATCH, LARGE_LOG_RATIO = (3, 3001), 2.0


def large_batch(seed: int, *, adv_per: str = "sequence", topk: bool = False) -> Batch:
    """The gradient check's large batch, rebuilt from its seed (a finding names it this way
    rather than listing ~27,000 numbers)."""
    return sample_batch(np.random.default_rng(seed), batch=LARGE_BATCH[0], length=LARGE_BATCH[1],
                        log_ratio_bound=LARGE_LOG_RATIO, adv_per=adv_per, topk=topk)


def check_gradient(ctx: Context) -> CheckResult:
    def probes():
        for _ in range(ctx.examples):
            yield Probe(ctx.sample(), sub="drawn float32 batch")
        seed, topk = int(ctx.rng.integers(2**32)), "topk_logp" in ctx.method.batch_fields
        yield Probe(large_batch(seed, adv_per=ctx.adv_per, topk=topk),
                    sub="large batch (thousands of tokens: chunked or size-dependent code)",
                    recipe=f"large_batch({seed}, adv_per={ctx.adv_per!r}, topk={topk})")
    return _run("gradient", ctx, probes())


def check_on_policy(ctx: Context) -> CheckResult:
    return _run("on_policy", ctx, (Probe(ctx.sample(), on_policy=True, sub="r = 1 (old = current.detach())")
                                   for _ in range(max(2, ctx.examples // 3))))


def stop_gradient_batch(ctx: Context) -> Batch:
    """Tokens where a missing or misplaced stop-gradient shows most: a frozen factor w(ℓ) written
    without ``detach`` adds ``Â·ℓ·∂w/∂ℓ``, large for rare tokens (|ℓ| ∈ [5, 25]) and non-zero only
    inside the clip / trust region (|log r| ≤ 0.05, where no clip or mask is active)."""
    b = ctx.sample()
    ell_mu = ctx.rng.uniform(-25.0, -5.0, b.shape)
    ell = ell_mu + ctx.rng.normal(0.0, 0.02, b.shape)
    return b.replace(logp=ell, logp_mu=ell_mu)


def check_stop_gradient(ctx: Context) -> CheckResult:
    res = _run("stop_gradient", ctx, (Probe(stop_gradient_batch(ctx), grad_inputs=True, sub="rare tokens inside the trust region")
                                      for _ in range(max(2, ctx.examples // 3))))
    res.detail = ("rare tokens inside the trust region (where a missing detach adds A*l*dw/dl); logp_mu and adv "
                  "passed as tensors that require grad must not change dloss/dlogp")
    return res


def check_region_coverage(ctx: Context, per_stratum: int = 4) -> CheckResult:
    """Stratified agreement: tokens are pooled from long-tailed batches (μ down to 1e−12, points at
    every kink), labelled by stratum (sign Â × Piecewise leaf of ∂J/∂ℓ × sign w), and a batch with
    up to ``per_stratum`` tokens of every stratum reached (rare tokens first) is compared, one token
    per row; the pooled batches are compared as they are too. Methods whose regions depend on the
    whole sequence (GSPO) are compared on the pooled batches only."""
    res = CheckResult("region_coverage")
    m = ctx.method
    per_row = m.per_sequence
    pools, labels_all, counts = [], [], {}
    for _ in range(max(4, ctx.examples)):
        b = ctx.sample(batch=8, length=16, min_mu=1e-12)
        ell, ell_mu, adv, ex, idx = oracle.valid_inputs(ctx.target.method, b)
        labels = oracle.regions(ctx.target.method, ctx.target.params, ell, ell_mu, adv, ex)
        pools.append((b, idx))
        labels_all.append(labels)
        res.examples += 1
        if res.add(ctx, probe(ctx.target, Probe(b, sub="long-tailed pooled batch"), ctx.notes)):
            break
    labels = np.concatenate(labels_all) if labels_all else np.array([], str)
    rows = []                                  # (pool, flat index) of the chosen tokens
    if not per_row and res.status != "failed":
        where = [(k, int(i)) for k, (_, idx) in enumerate(pools) for i in idx]
        mus = np.array([pools[k][0].logp_mu.reshape(-1)[i] for k, i in where])
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            members = members[np.argsort(mus[members], kind="stable")][:per_stratum]   # rarest first
            counts[str(lab)] = int((labels == lab).sum())
            rows += [where[j] for j in members]
        res.coverage = {"pooled": counts, "stratified_tokens": len(rows)}
        strat = _token_rows(pools, rows)
        if strat is not None:
            res.examples += 1
            res.add(ctx, probe(ctx.target, Probe(strat, sub="stratified tokens (one per region)"), ctx.notes))
    else:
        for lab in np.unique(labels):
            counts[str(lab)] = int((labels == lab).sum())
        res.coverage = {"pooled": counts}
    rare = sum(int((b.logp_mu[b.mask] < math.log(1e-6)).sum()) for b, _ in pools)
    res.detail = (f"{len(counts)} strata (sign A x gradient leaf x sign w), min count "
                  f"{min(counts.values(), default=0)}, {rare} tokens with mu < 1e-6"
                  + (f", stratified batch of {len(rows)} tokens" if rows else ""))
    return res


def _token_rows(pools, chosen) -> Batch | None:
    """A [n, 1] batch, one chosen token per row (its own group), extras carried along."""
    if not chosen:
        return None
    def pick(get):
        return np.stack([get(pools[k][0]).reshape((-1,) + get(pools[k][0]).shape[2:])[i] for k, i in chosen])
    b0 = pools[0][0]
    extras = {name: pick(lambda b, n=name: b.extras[n])[:, None] for name in b0.extras}
    return Batch(pick(lambda b: b.logp)[:, None], pick(lambda b: b.logp_mu)[:, None], pick(lambda b: b.adv)[:, None],
                 np.ones((len(chosen), 1), bool), np.arange(len(chosen)), extras)


def check_aggregation(ctx: Context) -> CheckResult:
    def probes():
        for _ in range(max(2, ctx.examples // 3)):
            b = ctx.sample(batch=int(ctx.rng.integers(2, ctx.batch + 3)))
            yield Probe(b.concat(b), sub="duplicated batch")
            yield Probe(b.rows(ctx.rng.permutation(b.shape[0])), sub="reordered rows")
            if ctx.target.takes_global_counts:
                k = int(ctx.rng.integers(2, b.shape[0] + 1))
                if ctx.target.equal_splits:      # e.g. TRL: per_device_train_batch_size rows each
                    k = int(ctx.rng.choice([d for d in range(2, b.shape[0] + 1) if b.shape[0] % d == 0]))
                order = ctx.rng.permutation(b.shape[0])
                shards = [s for s in np.array_split(order, k) if len(s)]
                yield Probe(b, shards=shards, sub="micro-batch split")
                yield Probe(b, shards=shards, dp=True, sub="data-parallel split")
    res = _run("aggregation", ctx, probes())
    t = ctx.target
    if t.takes_global_counts:
        splits = (", micro-batch and data-parallel splits with global counts"
                  + (" (equal-size shards)" if t.equal_splits else ""))
    elif not {"num_tokens", "num_seqs"} & t.accepts:
        splits = "; splits skipped: the target takes no global counts (num_tokens/num_seqs)"
    else:
        splits = (f"; splits skipped: agg={t.conventions.agg} needs {', '.join(sorted(t.missing_global_counts))}, "
                  "which the target does not take")
    res.detail = "duplicate, reorder" + splits
    return res


def padded(b: Batch, value: float) -> Batch:
    """``b`` with masked positions set to ``value``, three extra padded columns and one all-masked row."""
    B, T = b.shape
    def widen(a, fill):
        out = np.full((B + 1, T + 3), fill, dtype=a.dtype)
        out[:B, :T] = a
        return out
    mask = widen(b.mask, False)
    adv = widen(b.adv, value)
    logp, logp_mu = widen(b.logp, value), widen(b.logp_mu, value)
    for a in (logp, logp_mu, adv):
        a[~mask] = value
    gids = np.concatenate([b.group_ids, [b.group_ids.max(initial=-1) + 1]])
    extras = {k: np.pad(v, [(0, 1), (0, 3)] + [(0, 0)] * (v.ndim - 2), constant_values=value)
              for k, v in b.extras.items()}
    return Batch(logp, logp_mu, adv, mask, gids, extras)


def check_padding(ctx: Context) -> CheckResult:
    def probes():
        # a real fill (0.0), finite garbage, then empty batches, then ±inf/NaN: the first failure
        # names the worst case
        batches = [ctx.sample() for _ in range(max(1, ctx.examples // 5))]
        for v in PAD_VALUES[:3]:
            for b in batches:
                yield Probe(padded(b, v), sub=f"{v:+g} padding")
        b = ctx.sample(batch=3)
        yield Probe(b.replace(mask=np.zeros_like(b.mask)), sub="all-masked batch")
        yield Probe(b.rows(np.arange(0)), sub="empty batch")
        for v in PAD_VALUES[3:]:
            for b in batches:
                yield Probe(padded(b, v), sub=f"{v:+g} padding")
    res = _run("padding", ctx, probes())
    res.detail = "masked values in {0, 1e4, -1e4, inf, -inf, nan}, +3 padded columns, all-masked rows/batch, empty batch"
    return res


def representable(target: Target, b: Batch, dtype: str) -> Batch:
    """Mask out tokens whose clamped reference is not finite in ``dtype`` (e.g. GPG's Âℓ at π = 0,
    SPO's r² at r = e^80 in float32): no implementation can return them."""
    p = Probe(b, dtype=dtype, clamp_to_dtype=True)
    rb = round_to(b, dtype)
    conv = conventions_for(target, p)
    ell, ell_mu, adv, ex, idx = oracle.valid_inputs(target.method, rb)
    ok = np.ones(len(idx), bool)     # [n]; a non-finite frozen statistic (GSPO's sequence log-ratio of a
    for v in ex.values():            # row with π = 0) has no reference at all
        ok &= np.isfinite(np.asarray(v, dtype=float).reshape(len(idx), -1)).all(-1)
    fin = {k: np.asarray(v)[ok] for k, v in ex.items()}
    with np.errstate(all="ignore"):
        g = oracle.token_gradient(target.method, target.params, ell[ok], ell_mu[ok], adv[ok], fin, conv)
        big = np.finfo(dtype if dtype in ("float64", "float16") else "float32").max / 64
        good = np.isfinite(g) & (np.abs(g) < big)
        v = oracle.token_objective(target.method, target.params, ell[ok], ell_mu[ok], adv[ok], fin, conv)
        good &= np.isfinite(v) & (np.abs(v) < big)   # also where only the gradient is specified
    ok[ok] = good
    mask = b.mask.copy()
    mask.reshape(-1)[idx[~ok]] = False
    return b.replace(mask=mask)


def check_overflow(ctx: Context) -> CheckResult:
    def probes():
        for i in range(max(4, ctx.examples // 2)):
            dtype = "float64" if i % 3 == 2 else "float32"
            b = representable(ctx.target, ctx.sample(extreme=True, batch=8, length=16), dtype)
            # the large log-ratios alone first (a deviation), then with π = 0 tokens (an edge case)
            zero_pi = ~np.isfinite(b.logp)
            yield Probe(b.replace(mask=b.mask & ~zero_pi, logp=np.where(zero_pi, b.logp_mu, b.logp)),
                        dtype=dtype, clamp_to_dtype=True,
                        sub=f"{dtype}, |log r| up to 100")
            yield Probe(b, dtype=dtype, clamp_to_dtype=True, sub=f"{dtype}, logp = -inf in valid positions")
    res = _run("overflow", ctx, probes())
    clamp = ctx.target.conventions.log_ratio_clamp
    res.detail = ("log-ratios to +-100 and logp = -inf; reference clamp "
                  + (f"{clamp} (documented by the implementation)" if clamp else
                     f"+-{dtype_clamp('float32'):.1f} in float32, +-{dtype_clamp('float64'):.1f} in float64"))
    return res


#: float16 rare-token probes: log r just past float16's exp range (e^11.09 = 65504), where a ratio
#: computed in the inputs' half precision overflows; Â is scaled so the exact gradient of those
#: tokens stays representable (tokens where it cannot are masked out, as ever in float16)
HALF_RARE_LOG_RATIO, HALF_RARE_ADV = (11.5, 13.0), 1e-3


def half_rare_batch(ctx: Context) -> Batch:
    """A float16 batch where about a third of the tokens have π/μ between e^11.5 and e^13 (a token
    the sampler found rare, e.g. μ = 1e−6, that the policy now gives 0.5): real training data, and
    the float16 ratio of them is inf unless the code upcasts first."""
    b = ctx.sample(batch=4, length=24)
    lo, hi = HALF_RARE_LOG_RATIO
    rare = ctx.rng.random(b.shape) < 1 / 3
    logp = ctx.rng.uniform(-3.0, -0.05, b.shape)             # π in [0.05, 0.95]
    logp_mu = np.where(rare, logp - ctx.rng.uniform(lo, hi, b.shape), b.logp_mu)
    logp = np.where(rare, logp, np.clip(b.logp, b.logp_mu - HALF_LOG_RATIO, b.logp_mu + HALF_LOG_RATIO))
    return representable(ctx.target, b.replace(logp=logp, logp_mu=logp_mu, adv=b.adv * HALF_RARE_ADV), "float16")


def check_dtype(ctx: Context) -> CheckResult:
    def probes():
        for i in range(max(3, ctx.examples // 3)):
            b = ctx.sample()
            dtype = ("bfloat16", "float16", "float64")[i % 3]
            bound = HALF_LOG_RATIO if dtype == "float16" else 8.0
            b = b.replace(logp=np.clip(b.logp, b.logp_mu - bound, b.logp_mu + bound))
            if dtype == "float16":      # tokens whose reference (per token) float16 cannot hold
                b = representable(ctx.target, b, dtype)
            yield Probe(b, dtype=dtype, sub=dtype)
        # (not for sequence statistics, whose float16 sums such tokens dominate: rounding, not overflow)
        for _ in range(0 if ctx.method.per_sequence else 2):
            yield Probe(half_rare_batch(ctx), dtype="float16",
                        sub=f"float16, rare tokens with log r in [{HALF_RARE_LOG_RATIO[0]:g}, {HALF_RARE_LOG_RATIO[1]:g}]")
    res = _run("dtype", ctx, probes())
    res.detail = (f"bfloat16, float64 inputs with |log r| <= 8, float16 with |log r| <= {HALF_LOG_RATIO:g} (r² "
                  f"representable) and rare tokens at log r in [{HALF_RARE_LOG_RATIO[0]:g}, {HALF_RARE_LOG_RATIO[1]:g}] "
                  "(past float16's exp range: a ratio computed in half precision overflows); per-dtype tolerances "
                  + ", ".join(f"{k}: rtol {t.rtol:g}" for k, t in oracle.TOLERANCES.items()))
    return res


#: factors on a parameter's distance to its lower bound: a small fixed set, so that the sympy
#: derivations a parameter set needs (kinks, kernels; cached) are shared across seeds and targets
SWEEP_FACTORS = (0.5, 1.6)


def draw_params(rng: np.random.Generator, method, around: dict, *, keep_ties: bool = False,
                split: frozenset = frozenset(), fixed: frozenset = frozenset()) -> dict:
    """Parameters drawn away from ``around`` (the target's own values), inside their intervals:
    each one's distance to its lower bound scaled by a factor of :data:`SWEEP_FACTORS` (a value at
    its lower bound moves to 40% of the interval, or to lower + 0.4). Equal values get different
    factors, or with ``keep_ties`` the same one, except the parameters named in ``split``. The
    parameters in ``fixed`` (ones the target cannot be told) keep their values."""
    out, factor_of = {}, {}
    for prm in method.params:
        v0 = float(around[prm.name])
        if prm.name in fixed:
            out[prm.name] = v0
            continue
        lo = prm.low if prm.low is not None else 0.0
        # keep_ties: parameters set equal stay equal (a symmetric clip read from one config field);
        # otherwise a tie is broken on purpose (one parameter used in place of the other shows)
        f = float(rng.choice(SWEEP_FACTORS))
        if v0 in factor_of:
            tied = keep_ties and prm.name not in split
            f = factor_of[v0] if tied else next(x for x in SWEEP_FACTORS if x != factor_of[v0])
        factor_of.setdefault(v0, f)
        v = lo + (v0 - lo) * f if v0 > lo else lo + 0.4 * (1.0 if prm.high is None else prm.high - lo)
        if prm.high is not None:
            v = min(v, lo + 0.9 * (prm.high - lo))
        out[prm.name] = float(f"{v:.4g}")
    if "clip_min" in out and "clip_max" in out and out["clip_min"] >= out["clip_max"] and "clip_min" not in fixed:
        out["clip_min"] = float(f"{out['clip_max'] / 2:.4g}")
    if "lower" in out and "upper" in out and out["lower"] >= out["upper"]:
        out["lower"] = float(f"{out['upper'] / 2:.4g}")
    return out


def check_hyperparameters(ctx: Context) -> CheckResult:
    """The target configured with parameters drawn away from its own (a constant that does not
    reach the loss, or one used with another meaning, shows only away from the default). A
    framework-shaped target keeps equal bounds equal in these draws (its configuration may hold
    one field for both) and then, where its configuration carries the bounds in separate fields
    (``Target.split_ties``), has them drawn apart once: :func:`_split_bounds`."""
    res = CheckResult("hyperparameters")
    t, m = ctx.target, ctx.method
    if not m.params or t.variant is None:
        res.status = "skipped"
        res.detail = "no parameters" if not m.params else "the adapter cannot reconfigure this target"
        return res
    drawn = []
    for _ in range(max(2, ctx.examples // 8)):        # each draw re-derives kinks and kernels (sympy)
        params = draw_params(ctx.rng, m, t.params, keep_ties=t.keep_ties, fixed=t.fixed)
        v = t.variant(params=params)
        sub = ", ".join(f"{k}={x:g}" for k, x in params.items())
        drawn.append(sub)
        vctx = Context(v, ctx.rng, ctx.examples, notes=ctx.notes)
        for p in (Probe(vctx.sample(), sub=sub, variant=v),
                  Probe(vctx.sample(batch=8, length=16), sub=sub, variant=v)):
            res.examples += 1
            if res.add(vctx, probe(v, p, ctx.notes)):
                res.detail = "; ".join(drawn)
                return res
    res.detail = "; ".join(drawn) + _split_bounds(ctx, res)
    return res


def tied_bounds(t: Target) -> list[tuple[str, str]]:
    """The lower / upper bound pairs the target is configured with equal values."""
    return [(lo, hi) for lo, hi in BOUND_PAIRS if lo in t.params and hi in t.params and t.params[lo] == t.params[hi]]


#: probes with the bounds drawn apart ([8, 16] batches with tokens at the kinks of every reading)
SPLIT_PROBES = 4


def _split_bounds(ctx: Context, res: CheckResult) -> str:
    """Equal bounds that the target's configuration carries in separate fields, drawn apart (every
    field filled by the adapter, the legacy symmetric one with the lower bound): a target that reads
    one field for both deviates, with a fix naming the fields. The batches put tokens at the kinks
    of every misreading (:func:`_readings`), where it shows. A target that raises on the first such
    call supports a symmetric clip only: a note, not a finding (it cannot be misconfigured
    silently). Returns the text for the check's detail."""
    t, m = ctx.target, ctx.method
    if not t.keep_ties:
        return ""                           # every draw above breaks ties already
    tied = tied_bounds(t)
    if t.symmetric_clip:
        return f"; {', '.join(f'{lo} = {hi}' for lo, hi in tied)} kept equal (declared symmetric_clip)" if tied else ""
    pairs = [b for b in t.split_ties if (b.low, b.high) in tied]
    kept = [f"{lo} = {hi}" for lo, hi in tied if not any((b.low, b.high) == (lo, hi) for b in pairs)]
    out = f"; {', '.join(kept)} kept equal (the target takes one field for both)" if kept else ""
    if not pairs:
        return out
    params = draw_params(ctx.rng, m, t.params, keep_ties=True, split=frozenset(n for b in pairs for n in (b.low, b.high)),
                         fixed=t.fixed)
    pairs = [b for b in pairs if params[b.low] != params[b.high]]
    if not pairs:
        return out
    v = t.variant(params=params)
    fields = ", ".join(f"{b.low_field} = {params[b.low]:g}, {b.high_field} = {params[b.high]:g}, "
                       f"{b.symmetric_field} = {params[b.low]:g}" for b in pairs)
    out += f"; bounds drawn apart ({fields})"
    sub = "bounds drawn apart: " + ", ".join(f"{k}={x:g}" for k, x in params.items())
    readings = _readings(pairs, params)
    kinks = [k for p, _ in [(params, ""), *readings] for k in oracle.kinks(m.name, p)]
    vctx = Context(v, ctx.rng, ctx.examples, notes=ctx.notes)
    for i in range(SPLIT_PROBES):
        res.examples += 1
        bad = probe(v, Probe(vctx.sample(batch=8, length=16, kinks=kinks), sub=sub, variant=v), ctx.notes)
        if i == 0 and bad is not None and bad.kind == "raises":     # counted in tokens, as every note
            key = (f"symmetric bounds only: the target raised when {', '.join(f'{b.low} != {b.high}' for b in pairs)} "
                   f"({bad.message}); it cannot be run with unequal bounds by mistake")
            ctx.notes[key] = ctx.notes.get(key, 0) + int(bad.batch.mask.sum())
            return out + ": refused (raised)"
        if bad is not None and bad.kind.endswith("mismatch"):
            bad = replace(bad, fix=_reading_fix(v, bad, readings))
        if res.add(vctx, bad):
            break
    return out


def _readings(pairs, params: dict) -> list[tuple[dict, str]]:
    """(parameters, fix) of each way a target can misread a pair of bounds drawn apart: one field
    for both (the legacy symmetric one holds the lower bound), the upper for both, swapped."""
    out = []
    for b in pairs:
        lo, hi = params[b.low], params[b.high]
        out += [
            ({**params, b.high: lo}, f"reads one field for both bounds ({b.symmetric_field} or {b.low_field}, "
                                     f"{lo:g} here; {b.high_field} = {hi:g}): read {b.low_field} for the lower "
                                     f"and {b.high_field} for the upper bound (an implementation of a symmetric "
                                     "clip only: raise on unequal bounds, or declare --option symmetric_clip=true)"),
            ({**params, b.low: hi}, f"reads {b.high_field} for both bounds: read {b.low_field} for the lower bound"),
            ({**params, b.low: hi, b.high: lo}, f"{b.low_field} and {b.high_field} swapped: {b.low_field} is the "
                                                "lower bound"),
        ]
    return out


def _reading_fix(v: Target, bad: Probe, readings) -> str:
    """The fix of the first misreading whose reference the target's output matches on the failing
    batch, else "" (the check's generic fix)."""
    for params, fix in readings:
        other = replace(v, params=params)
        if probe(other, replace(bad, variant=other)) is None:
            return fix
    return ""


def _ignores_agg(t: Target, v: Target, failed: Probe) -> bool:
    """``v`` (``t`` told another mode) conforms to ``t``'s declared mode on the failing batch."""
    c = t.conventions
    same = replace(v, conventions=replace(v.conventions, agg=c.agg, horizon=c.horizon,
                                          count_empty_rows=c.count_empty_rows))
    return probe(same, replace(failed, variant=same)) is None


def check_aggregation_modes(ctx: Context) -> CheckResult:
    """Every other aggregation mode the target can be told (verl's ``loss_agg_mode``, a plain
    target's ``agg`` argument): drawn batches and, with global counts, micro-batch splits. A mode
    whose first call raises is taken as not supported and listed."""
    res = CheckResult("aggregation_modes")
    t = ctx.target
    modes = [a for a in t.agg_modes if a != t.conventions.agg]
    if not modes or t.variant is None:
        res.status = "skipped"
        res.detail = "the target takes no aggregation argument"
        return res
    tried, refused, ignored = [], [], []
    for mode in modes:
        v = t.variant(agg=mode)
        vctx = Context(v, ctx.rng, ctx.examples, notes=ctx.notes)
        first = probe(v, Probe(vctx.sample(), sub=f"agg={mode}", variant=v), ctx.notes)
        res.examples += 1
        if first is not None and first.kind == "raises":
            refused.append(mode)
            continue
        probes = [Probe(vctx.sample(batch=int(ctx.rng.integers(2, 7))), sub=f"agg={mode}", variant=v)
                  for _ in range(max(1, ctx.examples // 8))]
        if v.takes_global_counts:
            b = vctx.sample(batch=int(ctx.rng.integers(2, 7)))
            shards = [s_ for s_ in np.array_split(ctx.rng.permutation(b.shape[0]), 2) if len(s_)]
            if v.equal_splits and b.shape[0] % 2:
                shards = [np.arange(b.shape[0])]
            probes += [Probe(b, shards=shards, sub=f"agg={mode}, micro-batch split", variant=v),
                       Probe(b, shards=shards, dp=True, sub=f"agg={mode}, data-parallel split", variant=v)]
        stop = False
        for p in [None, *probes]:
            bad = first if p is None else probe(v, p, ctx.notes)
            res.examples += p is not None
            if bad is not None and t.agg_declared and _ignores_agg(t, v, bad):
                ignored.append(mode)    # e.g. verl's GSPO: seq-mean-token-mean whatever loss_agg_mode says
                break
            if res.add(vctx, bad):
                stop = True
                break
        else:
            tried.append(mode)
        if stop:
            tried.append(mode)
            break
    res.detail = f"modes {', '.join(tried) or 'none'}" + (f"; not accepted (raised): {', '.join(refused)}"
                                                          if refused else "")
    if ignored:    # a declared design choice: the aggregation was declared, and the argument is not used
        res.detail += f"; ignored (aggregates as the declared agg={t.conventions.agg}): {', '.join(ignored)}"
        key = f"declared agg={t.conventions.agg}: the target ignores its aggregation argument"
        ctx.notes[key] = ctx.notes.get(key, 0) + len(ignored)
    return res


CHECKS: dict[str, Callable[[Context], CheckResult]] = {
    "gradient": check_gradient,
    "on_policy": check_on_policy,
    "stop_gradient": check_stop_gradient,
    "region_coverage": check_region_coverage,
    "aggregation": check_aggregation,
    "padding": check_padding,
    "overflow": check_overflow,
    "dtype": check_dtype,
    "hyperparameters": check_hyperparameters,
    "aggregation_modes": check_aggregation_modes,
}
