"""Plant the defects the lint checks look for into clean rollouts (fixtures, tests, bench).

Each planter takes the arrays ``{name: [B, T, ...]}`` of a clean file and the rows to break,
returns new arrays (the input is not modified). These are the ways logs break in practice:

* ``zero_filled``        log μ missing and filled with 0.0 (an engine that returned no log-probs);
* ``positive_logprob``   negative log-likelihoods stored instead of log-probs (sign flipped);
* ``nonfinite``          a NaN log π and a −inf log μ in the row;
* ``shifted``            log μ sliced one position late (``rollout[t] = true[t + 1]``);
* ``truncated_sampling`` log μ of a top-p = 0.9 sampler: renormalised over the nucleus, which the
                         logged top-K(μ) columns give (so ``log μ' = log μ − log kept``);
* ``mask_mismatch``      the mask runs two positions into the padding (even rows of ``rows``) or
                         stops before the end-of-sequence token (odd rows).
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.diagnose.lint import CHECKS


def plant(arrays: dict, check: str, rows, *, top_p: float = 0.9) -> dict:
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}; expected one of {', '.join(CHECKS)}")
    a = {k: np.array(v, copy=True) for k, v in arrays.items()}
    m = a["response_mask"].astype(bool)
    lmu, lpi = a["rollout_log_probs"], a["old_log_probs"]
    rows = list(rows)
    for j, i in enumerate(rows):
        n = int(m[i].sum())
        if check == "zero_filled":
            lmu[i, m[i]] = 0.0
        elif check == "positive_logprob":
            lmu[i, m[i]] = -lmu[i, m[i]]
        elif check == "nonfinite":
            lpi[i, n // 2] = np.nan
            lmu[i, max(n - 2, 0)] = -np.inf
        elif check == "shifted":
            lmu[i, :n - 1] = lmu[i, 1:n]
        elif check == "truncated_sampling":
            top = np.sort(np.exp(a["rollout_topk_log_probs"][i].astype(np.float64)), -1)[:, ::-1]   # [T, K]
            before = np.cumsum(top, -1) - top
            kept = np.where(before < top_p, top, 0.0).sum(-1)                                         # [T]
            # kept ≥ top-1 mass ≥ μ(sampled), so log μ' ≤ 0
            lmu[i, m[i]] = (lmu[i] - np.log(np.maximum(kept, np.exp(lmu[i]))))[m[i]]
        else:
            T = m.shape[1]
            if j % 2 == 0:
                a["response_mask"][i, n:min(n + 2, T)] = 1
            else:
                a["response_mask"][i, n - 1] = 0
    return a
