"""Diagnose files of logged rollouts: stream each file once, lint, mismatch by μ bucket, what-if.

One pass over each file in blocks of ``rows`` responses (bounded memory: a block's arrays and
per-token temporaries, whatever the file size). Files are taken in the order given — one file per
training step gives per-step trends (``steps``).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from drpo_analysis.core.methods import sequence_ratio
from drpo_analysis.core.methods.base import BatchInputs, build_extras
from drpo_analysis.diagnose import io, lint, mismatch, whatif
from drpo_analysis.util import stats


def _valid(block: dict) -> np.ndarray:
    """Tokens the statistics use: masked-in, log-probs finite and ≤ 0 (lint reports the rest)."""
    m = block["response_mask"].astype(bool)
    lmu, lpi = block["rollout_log_probs"], block["old_log_probs"]
    ok = m & np.isfinite(lmu) & np.isfinite(lpi) & (lmu <= 0) & (lpi <= 0)
    if "advantages" in block:
        ok &= np.isfinite(block["advantages"])
    return ok


def token_inputs(block: dict, ok: np.ndarray, cols: dict, topk: dict | None) -> dict:
    """The per-token inputs of the what-if [N]: ℓ, ℓ_μ, Â, μ bucket, sequence sum/mean of log r,
    and ``extras(method)``: the method's extra inputs built by the registry's builders
    (``core.methods.base.build_extras``) from the block's [b, T] arrays and its top-K columns ``topk``
    (``mismatch.topk_block``, [b, T, K+1] or None), cached per method."""
    lmu = np.where(ok, np.asarray(block["rollout_log_probs"], np.float64), 0.0)       # [b, T]
    lpi = np.where(ok, np.asarray(block["old_log_probs"], np.float64), 0.0)           # [b, T]
    batch = BatchInputs(logp=lpi, logp_mu=lmu, mask=ok, **(topk or {}))
    seq_mean = sequence_ratio.build_seq_log_ratio(np, batch)        # GSPO's L = mean_t log r, [b, T]
    seq_sum = seq_mean * sequence_ratio.build_seq_len(np, batch)    # Σ_t log r (sequence IS), [b, T]
    tok = {"ell": lpi[ok], "ell_mu": lmu[ok], "seq_sum": seq_sum[ok], "seq_mean": seq_mean[ok],
           "bucket": stats.mu_bucket(cols["mu"])}
    if "advantages" in block:
        tok["adv"] = np.asarray(block["advantages"], np.float64)[ok]
    if "responses" in block:
        tok["token"] = np.asarray(block["responses"])[ok]
    cache: dict[str, dict | None] = {}

    def extras(method):
        if method.name not in cache:
            if any(getattr(batch, f) is None for f in method.batch_fields):
                cache[method.name] = None
            else:
                cache[method.name] = {k: v[ok] for k, v in build_extras(method, batch).items()}
        return cache[method.name]
    tok["extras"] = extras
    return tok


def diagnose(files: Sequence[str | Path], *, specs: Sequence[str] | None = None, columns=None,
             rows: int = 2048, decode: Callable[[int], str] | None = None, progress: bool = False) -> dict:
    """The whole report as one JSON-able dict (see the ``diagnose`` command for the fields)."""
    parsed = [whatif.Spec.parse(s) for s in (specs or whatif.default_specs())]
    total = mismatch.Mismatch()
    totals = [whatif.WhatIf(s) for s in parsed]
    findings, steps = [], []
    tokens = 0
    no_adv = False
    for path in tqdm(files, desc="diagnose", unit="file", disable=not progress or len(files) < 2):
        linter, mm = lint.Linter(), mismatch.Mismatch()
        per = [whatif.WhatIf(s) for s in parsed]
        row0 = 0
        for block in io.iter_chunks(path, rows=rows, columns=columns):
            b = block["response_mask"].shape[0]
            linter.update(block, row0)
            ok = _valid(block)
            topk = mismatch.topk_block(block)                                          # [b, T, K+1] or None
            cols = mismatch.token_columns(block, ok, topk)
            mm.update(cols)
            tok = token_inputs(block, ok, cols, topk)
            r_idx, p_idx = np.nonzero(ok)
            if "adv" not in tok:   # no advantages logged: what-if for both signs, Â = ±1
                no_adv = True
                for sign in (1.0, -1.0):
                    t = dict(tok, adv=np.full(tok["ell"].shape, sign))
                    t["shared"] = whatif.shared(t)
                    for w in per:
                        w.update(t, r_idx + row0, p_idx)
            else:
                tok["shared"] = whatif.shared(tok)
                for w in per:
                    w.update(tok, r_idx + row0, p_idx)
            row0 += b
        for f in linter.findings():
            findings.append({"file": str(path), **f})
        tot = mm.totals()
        tokens += tot["tokens"]
        steps.append({"file": str(path), "responses": row0, "lint": len(linter.findings()),
                      **{k: tot.get(k) for k in ("tokens", "mean_k1", "mean_k3", "mean_chi2", "mean_abs_diff",
                                                  "mean_abs_r1", "max_r", "share_mu_le_0.01", "mean_exact_tv")},
                      "share_zeroed": {w.spec.label: w.summary()["share_zeroed"] for w in per if not w.skipped}})
        _merge_mismatch(total, mm)
        for a, b_ in zip(totals, per):
            a.merge(b_)
    return {"tokens": tokens, "files": [str(f) for f in files], "lint": findings,
            "buckets": total.buckets(), "totals": total.totals(), "steps": steps,
            "whatif": [w.summary(decode) for w in totals],
            "advantages": "assumed +1 and -1 for every token (no advantages column)" if no_adv else "logged"}


def _merge_mismatch(a: mismatch.Mismatch, b: mismatch.Mismatch) -> None:
    a.counts += b.counts
    for k, v in b.sums.items():
        a.sums[k] = a.sums.get(k, 0.0) + v
    a.max_r = np.maximum(a.max_r, b.max_r)
    for k in a.violations:
        a.violations[k] += b.violations[k]
    for k in a.share_mu_le:
        a.share_mu_le[k] += b.share_mu_le[k]
