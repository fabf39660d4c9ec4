"""Lint logged rollouts: six checks for the ways logs break silently.

Each check sees blocks of rows (``{column: [b, T]}`` plus the global index of the first row) and
ends with at most one finding ``{"check", "rows", "detail"}`` naming the affected rows. Only
positions inside ``response_mask`` count, except where a check is about the mask itself.

* ``zero_filled``     a log-prob exactly 0.0 where the other policy gave the token < 0.9, or a
                      whole response (≥ 4 tokens) whose log-probs are all exactly 0.0;
* ``positive_logprob`` a log-prob above 0 (beyond 1e-5 of rounding);
* ``nonfinite``       NaN or ±inf log-probs or advantages (a sampled token has μ > 0: −inf too);
* ``shifted``         log μ and log π agree far better one position apart than aligned;
* ``truncated_sampling`` a response whose mean ratio E_μ[π/μ] lies well below 1 — with log μ
                      of a top-p/top-k (or temperature-changed) sampler, E_μ[π/μ] = π's mass on
                      μ's support, the kept mass, while an untruncated μ gives exactly 1;
* ``mask_mismatch``   the mask disagrees with the data: lists of different lengths, masked-in
                      padding, sampled-looking tokens left out, or the end-of-sequence token
                      cut off or inside the mask (see :func:`_mask_mismatch`).
"""
from __future__ import annotations

import numpy as np

CHECKS = ("zero_filled", "positive_logprob", "nonfinite", "shifted", "truncated_sampling", "mask_mismatch")
LOGP = ("old_log_probs", "rollout_log_probs", "ref_log_prob")
POSITIVE_TOL = 1e-5
UNCERTAIN = np.log(0.9)
# shifted: lag-1 disagreement below this share of the aligned one, aligned one above 0.05 nats.
SHIFT_RATIO, SHIFT_MIN = 0.25, 0.05
# truncated_sampling: mean r + Z·se below 1 − MARGIN, at least MIN_TOKENS tokens in the response.
TRUNC_MARGIN, TRUNC_Z, TRUNC_MIN_TOKENS = 0.01, 4.0, 8
# ... or pooled over the file (≥ 200 tokens) with most responses (> 70 %) below 1: all affected.
TRUNC_POOLED_MIN_TOKENS, TRUNC_ROW_SHARE = 200, 0.7
MAX_ROWS_LISTED = 50


class Linter:
    """Streaming lint: feed blocks with :meth:`update`, read :meth:`findings`."""

    def __init__(self):
        self.rows = {c: [] for c in CHECKS}
        self.notes = {c: {} for c in CHECKS}
        self.pooled = {"n": 0, "sum": 0.0, "sum2": 0.0, "rows": [], "below": 0}

    def _flag(self, check: str, rows, row0: int, **note):
        rows = np.flatnonzero(rows) + row0
        if rows.size:
            self.rows[check].extend(rows.tolist())
            for k, v in note.items():
                self.notes[check][k] = v(self.notes[check].get(k)) if callable(v) else v

    def update(self, block: dict, row0: int) -> None:
        m = block["response_mask"].astype(bool)                                    # [b, T]
        cols = {c: np.asarray(block[c], np.float64) for c in LOGP if c in block}
        mu, pi = cols["rollout_log_probs"], cols["old_log_probs"]
        finite = {c: np.isfinite(v) for c, v in cols.items()}

        # nonfinite (masked-in only); later checks ignore the non-finite positions
        bad = np.zeros(m.shape[0], bool)
        for c, v in cols.items():
            bad |= (m & ~finite[c]).any(1)
        if "advantages" in block:
            bad |= (m & ~np.isfinite(np.asarray(block["advantages"], np.float64))).any(1)
        self._flag("nonfinite", bad, row0)
        ok = m & finite["rollout_log_probs"] & finite["old_log_probs"]

        # positive_logprob
        pos = np.zeros(m.shape[0], bool)
        worst = -np.inf
        for c, v in cols.items():
            hit = m & finite[c] & (v > POSITIVE_TOL)
            pos |= hit.any(1)
            if hit.any():
                worst = max(worst, float(v[hit].max()))
        self._flag("positive_logprob", pos, row0, max=lambda old: max(old or -np.inf, worst))

        # zero_filled: exact 0.0 against an uncertain partner, or a whole response of 0.0
        n = ok.sum(1)
        zero_pos = (ok & (mu == 0.0) & (pi < UNCERTAIN)) | (ok & (pi == 0.0) & (mu < UNCERTAIN))   # [b, T]
        all_zero = np.zeros(m.shape[0], bool)
        for v in (mu, pi):
            all_zero |= (n >= 4) & ((ok & (v == 0.0)).sum(1) == n)
        zero = zero_pos.any(1) | all_zero

        # shifted: aligned vs lag ±1 disagreement per response
        both = ok & (mu != 0.0) & (pi != 0.0)
        d0 = _mean_abs(pi, mu, both, both)
        d_next = _mean_abs(pi[:, :-1], mu[:, 1:], both[:, :-1], both[:, 1:])
        d_prev = _mean_abs(pi[:, 1:], mu[:, :-1], both[:, 1:], both[:, :-1])
        d_lag = np.fmin(d_next, d_prev)
        shifted = (both.sum(1) >= 4) & (d0 > SHIFT_MIN) & (d_lag < SHIFT_RATIO * d0)

        # a shift moves a certain token's 0.0 (0.0 in both columns) one position off its partner:
        # in a shifted row, a 0.0 whose partner is 0.0 one position away is the shift's doing, and
        # the row is reported under `shifted` only (zero_filled keeps rows with any other zero)
        explained = shifted[:, None] & _zero_one_apart(mu, pi)                          # [b, T]
        by_shift = shifted & zero & ~all_zero & ~(zero_pos & ~explained).any(1)
        self._flag("zero_filled", zero & ~by_shift, row0)
        self._flag("shifted", shifted, row0, zeros=lambda old: (old or 0) + int(by_shift.sum()))

        # truncated_sampling: per-response mean ratio and its standard error; pooled per file
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = np.where(ok, np.exp(np.clip(pi - mu, -50, 50)), 0.0)
            k = ok.sum(1)
            mean_r = r.sum(1) / np.maximum(k, 1)
            var = np.where(ok, (r - mean_r[:, None]) ** 2, 0.0).sum(1) / np.maximum(k - 1, 1)
            se = np.sqrt(var / np.maximum(k, 1))
        # rows already broken otherwise have meaningless ratios (a 0.0-filled log μ gives r = π)
        usable = (k > 0) & ~(zero | pos | shifted)
        trunc = (k >= TRUNC_MIN_TOKENS) & (mean_r + TRUNC_Z * se < 1.0 - TRUNC_MARGIN) & usable
        self._flag("truncated_sampling", trunc, row0)
        acc = self.pooled
        acc["n"] += int(k[usable].sum())
        acc["sum"] += float(r[usable].sum())
        acc["sum2"] += float((r[usable] ** 2).sum())
        acc["rows"].extend((np.flatnonzero(usable) + row0).tolist())
        acc["below"] += int((mean_r[usable] < 1.0).sum())

        # mask_mismatch
        self._flag("mask_mismatch", _mask_mismatch(block, mu, pi), row0)

    def _pooled_truncation(self) -> None:
        """A sampler truncation applied to the whole file: the pooled mean ratio is well below 1
        and most responses have a mean ratio below 1; then every usable response is affected."""
        acc = self.pooled
        n = acc["n"]
        if n < TRUNC_POOLED_MIN_TOKENS:
            return
        mean = acc["sum"] / n
        se = np.sqrt(max(acc["sum2"] / n - mean ** 2, 0.0) / (n - 1))
        if mean + TRUNC_Z * se < 1.0 - TRUNC_MARGIN and acc["below"] > TRUNC_ROW_SHARE * len(acc["rows"]):
            self.rows["truncated_sampling"].extend(acc["rows"])
            self.notes["truncated_sampling"]["pooled"] = mean

    def findings(self) -> list[dict]:
        self._pooled_truncation()
        out = []
        for c in CHECKS:
            rows = sorted(set(self.rows[c]))
            if rows:
                out.append({"check": c, "rows": rows, "detail": _detail(c, len(rows), self.notes[c])})
        return out


def _zero_one_apart(mu, pi) -> np.ndarray:
    """[b, T]: a 0.0 in one column whose partner column holds 0.0 one position before or after."""
    def near(v):
        z = v == 0.0
        out = np.zeros_like(z)
        out[:, 1:] |= z[:, :-1]
        out[:, :-1] |= z[:, 1:]
        return out
    return ((mu == 0.0) & near(pi)) | ((pi == 0.0) & near(mu))


def _mean_abs(a, b, ma, mb):
    """Per-row mean |a − b| over positions where both masks hold (NaN when none)."""
    w = ma & mb
    with np.errstate(invalid="ignore"):
        return np.where(w, np.abs(a - b), 0.0).sum(1) / np.where(w.any(1), w.sum(1), np.nan)


def _mask_mismatch(block, mu, pi) -> np.ndarray:
    """Rows whose mask disagrees with the logged data [b, T]:

    * per-response lists of different lengths (JSONL/parquet: the mask list is not as long as
      the log-prob lists);
    * masked-in padding: the last two masked-in positions hold the row's padding values (the
      constants of its masked-out positions) in both log-prob columns and, with token ids, the
      padding token id (:func:`_pad_token`). Without token ids, padding log-probs of 0.0 in both
      columns are not evidence: a response may end with certain tokens (a forced end-of-turn
      tail), logged as 0.0 under both policies — only other padding constants count;
    * sampled-looking positions left out before the mask's last position (holes, leading
      zeros): both log-probs finite, non-zero and within 0.5 nats of each other;
    * with token ids: the end-of-sequence token (the token most responses end with) excluded
      from a mask that stops right before it, or found inside the mask before its end.
    """
    m = block["response_mask"].astype(bool)
    b, T = m.shape
    idx = np.arange(T)[None, :]
    rows = np.arange(b)
    has = m.any(1)
    last = np.where(has, T - 1 - np.argmax(m[:, ::-1], 1), -1)                     # last masked-in
    bad = np.asarray(block.get("_ragged", np.zeros(b, bool)), bool).copy()
    # masked-in padding: needs evidence a certain tail (0.0 under both policies) cannot give
    pads = []
    for v in (mu, pi):
        off = ~m & np.isfinite(v)
        hi = np.where(off, v, -np.inf).max(1)                                        # [b]
        pads.append(np.where(off.any(1) & (np.where(off, v, np.inf).min(1) == hi), hi, np.nan))
    pad = m & (mu == pads[0][:, None]) & (pi == pads[1][:, None])                   # [b, T]
    pad_id = _pad_token(block, m, last)
    if pad_id is not None:     # token ids: the padding token id, with the padding log-probs
        pad &= np.asarray(block["responses"]) == pad_id
    else:                      # log-probs only: padding constants other than 0.0 in a column
        pad &= ((pads[0] != 0.0) | (pads[1] != 0.0))[:, None]
    ok_last = last >= 1
    bad[ok_last] |= pad[rows[ok_last], last[ok_last]] & pad[rows[ok_last], last[ok_last] - 1]
    # sampled-looking tokens left out before the mask's end
    with np.errstate(invalid="ignore"):
        sampled = np.isfinite(mu) & np.isfinite(pi) & (mu != 0.0) & (pi != 0.0) & (np.abs(mu - pi) < 0.5)
    bad |= (~m & (idx < last[:, None]) & sampled).any(1)
    # end-of-sequence consensus (token ids only)
    if "responses" in block and has.any():
        tok = np.asarray(block["responses"])
        stopped = has & (last < T - 1)              # responses that stopped before the length cap
        ends = tok[rows[stopped], last[stopped]]
        vals, counts = np.unique(ends, return_counts=True)
        if counts.size and counts.max() >= max(2, 0.5 * stopped.sum()):
            eos = vals[np.argmax(counts)]
            is_eos = tok == eos
            early = (m & is_eos & (idx < last[:, None])).any(1)                 # EOS inside the mask
            nxt = np.minimum(last + 1, T - 1)
            excluded = stopped & is_eos[rows, nxt] & ~m[rows, nxt] & ~is_eos[rows, np.maximum(last, 0)]
            bad |= early | excluded
    return bad


def _pad_token(block, m, last) -> int | None:
    """The padding token id: the one id that fills ≥ 90 % of the positions after the masks' ends
    in this block (None without token ids or without such a consensus)."""
    if "responses" not in block:
        return None
    tok = np.asarray(block["responses"])
    after = ~m & (np.arange(m.shape[1])[None, :] > last[:, None])                  # [b, T]
    if not after.any():
        return None
    vals, counts = np.unique(tok[after], return_counts=True)
    return vals[np.argmax(counts)] if counts.max() >= 0.9 * after.sum() else None


def _detail(check: str, n: int, note: dict) -> str:
    if check == "positive_logprob":
        return f"{n} response(s) with log-probs above 0 (largest {note.get('max', float('nan')):.3g}); log-probs must be <= 0"
    if check == "truncated_sampling":
        where = f"pooled mean pi/mu = {note['pooled']:.3f}" if "pooled" in note else "per-response mean pi/mu"
        return (f"{n} response(s); {where} well below 1 "
                "(untruncated sampling gives 1): top-p/top-k or temperature in the sampler, not in log pi; "
                "the mean ratio estimates the kept probability mass")
    return {
        "zero_filled": f"{n} response(s) with log-probs of exactly 0.0 where the token was not certain "
                       "(a missing value filled with 0?)",
        "nonfinite": f"{n} response(s) with NaN or infinite log-probs or advantages inside the mask",
        "shifted": f"{n} response(s) where rollout and trainer log-probs match one position apart, "
                   "not aligned (an off-by-one slice)" + (
                       f"; in {note['zeros']} of them the shift also puts certain tokens' 0.0 log-probs "
                       "next to uncertain ones (not reported again as zero_filled)" if note.get("zeros") else ""),
        "mask_mismatch": f"{n} response(s) whose response_mask disagrees with the data (mask and log-prob "
                         "lists of different lengths, padding inside the mask, sampled-looking tokens left "
                         "out, or the end-of-sequence token cut off or inside the mask)",
    }[check]
