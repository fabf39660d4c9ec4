"""What-if: what each registry method and each rollout correction would do to logged tokens.

Every method of ``core.methods`` has a per-token gradient weight ``w`` with
``∂J/∂ℓ = Â r w`` (DRPO arXiv:2602.07542 Table 1; ``core.losses_np.gradient_weight``), so plain
importance-sampled policy gradient is ``w = 1``. For each logged token with ``Â ≠ 0`` the what-if
classifies ``w``: **zeroed** (masked or clipped, ``w = 0``), **attenuated** (``0 < w < 1``),
**amplified** (``w > 1``), **reversed** (``w < 0``), by μ bucket and sign of Â, and measures the
share of gradient mass lost, ``Σ |Â| r · clip(1 − w, 0, 1) / Σ |Â| r``, and the worst offenders
(tokens losing the most).

Top-K methods use the K of the logged top-K columns (a spec's ``K=`` is not applied to logs).

Rollout corrections (verl's ``RolloutCorrectionConfig`` presets, with their defaults) are scored
the same way, their weight being the correction's IS factor divided by r:

* ``token_tis`` — truncated IS, factor ``min(r, C)``, C = 2;
* ``token_icepop`` — factor 1 inside ``[lo, hi] = [0.5, 5]``, else 0;
* ``seq_tis`` — sequence IS ``min(exp(Σ_t log r_t), C)``, C = 2, for every token of the response;
* ``geo_rs`` — reject a response whose geometric-mean ratio ``exp(mean_t log r_t)`` leaves
  ``[0.999, 1.001]``.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from drpo_analysis.core import losses_np, methods
from drpo_analysis.core.methods.spec import MethodSpec
from drpo_analysis.util import stats

KINDS = ("zeroed", "attenuated", "amplified", "reversed")
SIGNS = ("pos", "neg")
TOL = 1e-9
WORST = 5


@dataclass(frozen=True)
class Correction:
    name: str
    source: str
    params: dict
    factor: Callable  # (log_r [N], seq_sum [N], seq_mean [N], p) -> IS factor [N]


CORRECTIONS = {c.name: c for c in (
    Correction("token_tis", "Yao et al. 2025 (truncated IS); verl rollout_is='token'", {"C": 2.0},
               lambda lr, ss, sm, p: np.minimum(np.exp(lr), p["C"])),
    Correction("token_icepop", "IcePop; verl decoupled_token_icepop", {"lo": 0.5, "hi": 5.0},
               lambda lr, ss, sm, p: ((lr >= np.log(p["lo"])) & (lr <= np.log(p["hi"]))) * np.exp(lr)),
    Correction("seq_tis", "verl rollout_is='sequence'", {"C": 2.0},
               lambda lr, ss, sm, p: np.minimum(np.exp(np.minimum(ss, 50.0)), p["C"])),
    Correction("geo_rs", "verl decoupled_geo_rs (seq_mean_k1)", {"lo": 0.999, "hi": 1.001},
               lambda lr, ss, sm, p: ((sm >= np.log(p["lo"])) & (sm <= np.log(p["hi"]))) * np.exp(lr)),
)}


@dataclass
class Spec:
    """A registry method spec or a rollout correction, with its resolved parameters."""
    label: str
    method: MethodSpec | None = None
    correction: Correction | None = None
    params: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Spec":
        name, _, rest = text.partition(":")
        if name in CORRECTIONS:
            c = CORRECTIONS[name]
            p = dict(c.params)
            for item in filter(None, rest.split(",")):
                k, eq, v = item.partition("=")
                if not eq or k not in p:
                    raise ValueError(f"correction {text!r}: expected key=value with keys {sorted(p)}")
                try:
                    p[k] = float(v)
                except ValueError:
                    raise ValueError(f"correction {text!r}: value {v!r} of {k!r} is not a number") from None
            return cls(text, correction=c, params=p)
        ms = MethodSpec.parse(text)
        return cls(text, method=ms, params=methods.get(ms.name).resolve_params(dict(ms.params)))


def default_specs() -> list[str]:
    return methods.names() + list(CORRECTIONS)


def shared(tok: dict) -> dict:
    """What every spec's :meth:`WhatIf.update` needs of one block's tokens, computed once [N]:
    live (Â ≠ 0), flat (μ bucket × sign cell), g = |Â| r (gradient mass), slot (5 codes per cell,
    Â = 0 tokens beyond the last cell) and the mass per cell."""
    adv = tok["adv"]
    live = adv != 0
    b = tok["bucket"] if "bucket" in tok else stats.mu_bucket(np.exp(tok["ell_mu"]))
    flat = b * 2 + (adv < 0)                                          # [N] bucket × sign (0: Â > 0)
    cells = 2 * len(stats.MU_LABELS)
    g = np.where(live, np.abs(adv) * np.exp(np.minimum(tok["ell"] - tok["ell_mu"], 50.0)), 0.0)
    return {"live": live, "flat": flat, "g": g, "slot": np.where(live, flat * 5, cells * 5),
            "mass": np.bincount(flat, weights=g, minlength=cells).reshape(-1, 2)}


class WhatIf:
    """Streaming accumulators for one spec."""

    def __init__(self, spec: Spec):
        self.spec = spec
        nb = len(stats.MU_LABELS)
        self.tokens = np.zeros((nb, 2), np.int64)
        self.kind = {k: np.zeros((nb, 2), np.int64) for k in KINDS}
        self.mass = np.zeros((nb, 2))
        self.lost = np.zeros((nb, 2))
        self.worst: list[tuple] = []
        self.skipped: str | None = None

    def update(self, tok: dict, row: np.ndarray, pos: np.ndarray) -> None:
        """tok: per-token columns [N] (``ell``, ``ell_mu``, ``adv``, ``seq_sum``, ``seq_mean``,
        ``bucket``, optional ``token``) and ``extras``: method → its extra inputs at these tokens
        (None when the file lacks what they are built from); row/pos [N]."""
        w = self.weight(tok)
        if w is None:
            return
        sh = tok["shared"] if "shared" in tok else shared(tok)
        live, flat, g, adv = sh["live"], sh["flat"], sh["g"], tok["adv"]
        w = np.where(live, w, 1.0)                                   # w is NaN where Â = 0 (no gradient)
        # kind code 0 unchanged, 1..4 = KINDS (first match of zeroed, reversed, attenuated,
        # amplified); Â = 0 tokens go to a dropped slot
        code = np.zeros(w.shape, np.int64)
        code[w > 1 + TOL] = 3
        code[w < 1 - TOL] = 2
        code[w < 0] = 4
        code[w == 0] = 1
        cells = self.tokens.size
        counts = np.bincount(sh["slot"] + code, minlength=cells * 5 + 5)[:cells * 5].reshape(-1, 5)   # [cells, 5]
        self.tokens += counts.sum(1).reshape(self.tokens.shape)
        for i, k in enumerate(KINDS, 1):
            self.kind[k] += counts[:, i].reshape(self.tokens.shape)
        lost = g * np.clip(1.0 - w, 0.0, 1.0)
        self.mass += sh["mass"]
        self.lost += np.bincount(flat, weights=lost, minlength=cells).reshape(self.tokens.shape)
        score = lost + np.where(w < 0, g * -w, 0.0)
        # candidates above the current 5th-worst only (most tokens lose nothing), then a partial sort
        top = np.flatnonzero(score > (self.worst[0][0] if len(self.worst) == WORST else 0.0))
        if top.size > WORST:
            top = top[np.argpartition(score[top], -WORST)[-WORST:]]
        for i in top:
            if score[i] > 0:
                item = (float(score[i]), int(row[i]), int(pos[i]), int(tok["token"][i]) if "token" in tok else -1,
                        float(np.exp(tok["ell_mu"][i])), float(np.exp(tok["ell"][i])), float(adv[i]), float(w[i]))
                if len(self.worst) < WORST:
                    heapq.heappush(self.worst, item)
                else:
                    heapq.heappushpop(self.worst, item)

    def weight(self, tok: dict) -> np.ndarray | None:
        sp = self.spec
        if sp.correction is not None:
            lr = tok["ell"] - tok["ell_mu"]
            with np.errstate(over="ignore", invalid="ignore"):
                return sp.correction.factor(lr, tok["seq_sum"], tok["seq_mean"], sp.params) / np.exp(np.minimum(lr, 50.0))
        m = methods.get(sp.method.name)
        extras = None
        if m.extras:
            extras = tok["extras"](m)       # built by the registry's own builders (run.token_inputs)
            if extras is None:
                self.skipped = ("needs top-K columns (rollout_topk_ids, rollout_topk_log_probs, "
                                "old_topk_log_probs, responses)")
                return None
        with np.errstate(all="ignore"):
            return losses_np.gradient_weight(m, tok["ell"], tok["ell_mu"], tok["adv"], params=sp.params,
                                             extras=extras)

    def merge(self, other: "WhatIf") -> None:
        """Add another accumulator of the same spec (per-file → whole run)."""
        self.tokens += other.tokens
        for k in KINDS:
            self.kind[k] += other.kind[k]
        self.mass += other.mass
        self.lost += other.lost
        for item in other.worst:
            (heapq.heappush if len(self.worst) < WORST else heapq.heappushpop)(self.worst, item)
        self.skipped = self.skipped or other.skipped

    def summary(self, decode=None) -> dict:
        n = self.tokens
        tot = int(n.sum())
        out = {"spec": self.spec.label, "kind": "correction" if self.spec.correction else "method",
               "params": self.spec.params, "tokens": tot}
        if self.skipped:
            out["skipped"] = self.skipped
            return out
        with np.errstate(invalid="ignore", divide="ignore"):
            for k in KINDS:
                out[f"share_{k}"] = float(self.kind[k].sum() / tot) if tot else None
            out["share_mass_lost"] = float(self.lost.sum() / self.mass.sum()) if self.mass.sum() > 0 else None
            out["buckets"] = [
                {"bucket": label, "sign": sign, "tokens": int(n[i, j]),
                 **{f"share_{k}": float(self.kind[k][i, j] / n[i, j]) if n[i, j] else None for k in KINDS},
                 "share_mass_lost": float(self.lost[i, j] / self.mass[i, j]) if self.mass[i, j] > 0 else None}
                for i, label in enumerate(stats.MU_LABELS) for j, sign in enumerate(SIGNS)]
        out["worst"] = [{"row": r, "position": p, "token": t, "text": decode(t) if decode and t >= 0 else None,
                         "mu": mu, "pi": pi, "advantage": a, "w": w, "lost": sc}
                        for sc, r, p, t, mu, pi, a, w in sorted(self.worst, reverse=True)]
        return out

