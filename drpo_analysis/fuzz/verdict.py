"""One verdict scale for every face of the fuzzer (CLI, API, pytest plugin, conformance).

A run ends in one of five verdicts, from best to worst (:data:`VERDICTS`):

* ``conforms``: no finding;
* ``conforms with declared design choices``: no finding, and the target declared conventions
  (a log-ratio clamp, truncated IS, a surrogate value, …) that changed the reference somewhere;
  the notes say where they bit;
* ``edge cases only``: every finding is an *edge case*, a deviation only on inputs outside any
  real pipeline's contract (±inf/NaN, positive or below −100 "log-probs" at padded positions, a
  target that raises on a batch without valid tokens, π = 0 exactly in a valid position,
  |log r| beyond float32's exp range, a half-precision branch decision within the kink margin);
  listed, exit 0 unless ``--strict``;
* ``deviates``: at least one finding is a *deviation*: the gradient or value is wrong on inputs
  real training produces, or the target raises, hangs, mutates its inputs, returns NaN from
  finite inputs real training produces (a micro-batch without valid tokens, padding that holds
  finite log-probs in [−100, 0]);
* ``error``: a check could not run to its end (a fuzzer error): nothing can be concluded, so no
  ``conforms`` level is given; exit 1 with the first error as the one-line reason.

:func:`classify` decides the severity of one failing probe and names the likely fix.
"""
from __future__ import annotations

import numpy as np

from drpo_analysis.fuzz import oracle

VERDICTS = ("conforms", "conforms with declared design choices", "edge cases only", "deviates", "error")
EDGE, DEVIATES = "edge case", "deviates"

#: likely fixes by (check, sub-check prefix) — the first match wins; kind-specific ones first
_FIXES = (
    ("mutates-inputs", "", "do not modify inputs in place: use out-of-place ops (x.masked_fill(...), not "
                           "x.masked_fill_(...)) on logp / old log-probs / advantages"),
    ("timeout", "", "the call did not return within the timeout (--timeout): a hang or a very slow loss"),
    ("raises", "", "the target raised on this input: see the message (an argument it does not accept? "
                   "an empty batch?)"),
    ("no-gradient", "", "the loss does not depend on logp: check that the returned tensor is built from the "
                        "logp argument (no .detach() / .item() on the path)"),
    ("non-scalar", "", "return a scalar: aggregate the per-token loss (mean / sum over the mask)"),
    ("masked gradient mismatch", "", "padded positions get a gradient: the mask must multiply (or select) the "
                                     "per-token loss before the sum, including through every normaliser"),
    ("aggregation", "micro-batch split", "per-shard mean: accept num_tokens (token-mean) / num_seqs (seq-mean "
                                         "modes) and divide by the global count, not by this micro-batch's"),
    ("aggregation", "data-parallel split", "per-rank normaliser: divide by the global num_tokens / num_seqs "
                                           "(or accept dp_size and scale by it, as verl does)"),
    ("aggregation", "", "the loss depends on the batch composition (duplicated or reordered rows): check the "
                        "normaliser of the declared aggregation mode"),
    ("padding", "all-masked", "guard the normaliser: / mask.sum().clamp(min=1)"),
    ("padding", "empty batch", "guard the normaliser: / mask.sum().clamp(min=1)"),
    ("padding", "", "padded positions reach the loss: select with torch.where(mask, x, safe) *before* exp / "
                    "log / multiplication (x * mask keeps NaN·0 = NaN and inf·0 = NaN)"),
    ("overflow", "", "clamp ℓ − ℓ_μ before exp (e.g. to ±20, as verl and OpenRLHF do) and declare it: "
                     "--option log_ratio_clamp=20"),
    ("dtype", "", "compute the ratio and the loss in float32 (upcast half-precision inputs: logp.float())"),
    ("stop_gradient", "", "a frozen factor (IS weight, sequence ratio, mask, clipped coefficient) lacks "
                          ".detach(), or logp_mu / advantages carry gradient into the loss"),
    ("on_policy", "", "at r = 1 the gradient must be the plain policy gradient −Â·a: check the ratio at "
                      "old = current (bf16 storage of old log-probs? a penalty that is not 0 at r = 1?)"),
    ("hyperparameters", "bounds drawn apart", "the lower and upper bounds are not each read from their own field "
                                              "(one read for both, or swapped?): compare with the sub-check's values"),
    ("hyperparameters", "", "a parameter does not reach the loss (hard-coded constant?) or is used with "
                            "another meaning: compare the sub-check's values with the formula"),
    ("aggregation_modes", "", "this aggregation mode is computed wrongly: compare with "
                              "drpo_analysis.core.aggregation (docs: the weights of each mode)"),
    ("", "", "the per-token gradient differs from the reference: compare the formula with "
             "`drpo-analysis methods` (column w: ∂J/∂ℓ = w·r·Â) and the declared conventions"),
)


def likely_fix(check: str, sub: str, kind: str) -> str:
    """The likely fix of a finding (first row of ``_FIXES`` whose kind or check and sub-check match)."""
    for key, prefix, fix in _FIXES:
        if key == "" or (key in (kind, check) and sub.startswith(prefix)):
            return fix
    raise AssertionError("unreachable: the last row matches everything")


#: the range of log-probabilities real models produce (log_softmax of finite logits in float32/bf16)
REALISTIC_LOG_PROB = (-100.0, 0.0)


def realistic_log_probs(values) -> bool:
    """All ``values`` finite log-probabilities a real model produces (:data:`REALISTIC_LOG_PROB`;
    0.0 is a common padding fill)."""
    v = np.asarray(values, dtype=float)
    lo, hi = REALISTIC_LOG_PROB
    return bool(np.isfinite(v).all() and (v >= lo).all() and (v <= hi).all())


HALF_EXP_LIMIT = float(np.log(np.finfo(np.float16).max))     # 11.09: exp overflows float16 beyond it


def _past_half_exp_range(logp, logp_mu, mask, token) -> bool:
    """The failing token (else any valid token) has log r beyond float16's exp range."""
    with np.errstate(invalid="ignore"):
        lr = logp - logp_mu
    if token is not None:
        return bool(lr[tuple(token)] > HALF_EXP_LIMIT)
    return bool((lr[mask] > HALF_EXP_LIMIT).any())


ZERO_PI = "π = 0 exactly (ℓ = −inf) in a valid position: unreachable from log_softmax of finite logits"


def classify(check: str, kind: str, ce: dict, method: str, params: dict) -> tuple[str, str]:
    """(severity, explanation) of one failing probe; ``ce``: the counterexample (``logp``,
    ``logp_mu``, ``mask`` as nested lists, ``dtype``, ``token``)."""
    logp, logp_mu = (np.asarray(ce[k], dtype=float) for k in ("logp", "logp_mu"))
    mask = np.asarray(ce["mask"], dtype=bool)
    with np.errstate(invalid="ignore"):
        masked_nonfinite = (~np.isfinite(logp) | ~np.isfinite(logp_mu))[~mask].any()
    if kind == "non-finite" and mask.size == 0:
        return EDGE, ("a batch with no sequences at all (zero rows) gives 0/0 = NaN; real batching always "
                      "gives a micro-batch at least one sequence")
    if kind == "non-finite" and not mask.any():
        return DEVIATES, ("NaN/inf loss or gradient on a micro-batch without valid tokens (0/0 normaliser): "
                          "such micro-batches occur in real training (overlong filtering, dynamic batching, "
                          "data-parallel remainders), and one NaN gradient poisons the all-reduce and the step")
    if kind == "raises" and not mask.any():
        return EDGE, "a batch without valid tokens (all-masked or empty) makes the target raise"
    valid_zero_pi = check == "overflow" and np.isneginf(logp[mask]).any()
    if valid_zero_pi and (ce.get("token") is None or np.isneginf(logp[tuple(ce["token"])])):
        return EDGE, ZERO_PI
    if kind == "non-finite" and (check == "padding" or masked_nonfinite):
        pad = np.concatenate([logp[~mask], logp_mu[~mask]])
        if pad.size and realistic_log_probs(pad):
            return DEVIATES, (f"NaN/inf from padded positions holding realistic finite log-probs (in "
                              f"[{pad.min():g}, {pad.max():g}]): a real padded batch gives a NaN loss/gradient")
        return EDGE, ("NaN/inf from padded positions holding values no model produces (±inf/NaN, positive "
                      "or below -100 'log-probs'): they leak through `x * mask` (NaN·0 = NaN, inf·0 = NaN); a "
                      "pipeline whose padding holds finite log-probs ≤ 0 is not affected")
    if valid_zero_pi:
        return EDGE, ZERO_PI
    if check == "overflow" and ce.get("token") is not None:
        b, t = ce["token"]
        lr = abs(logp[b][t] - logp_mu[b][t])
        limit = float(np.log(np.finfo("float32").max)) - 8.0
        if lr > limit:    # beyond float32's exp range (less a margin): the reference there is a clamped one
            return EDGE, (f"|log r| = {lr:.1f} > {limit:.1f}, beyond float32's exp range: exp(ℓ − ℓ_μ) overflows "
                          "without a clamp, and the reference is the clamped ratio's; needs μ below 1e−35·π, "
                          "unreachable for sampled tokens")
    if check == "dtype" and ce.get("dtype") == "float16" and _past_half_exp_range(logp, logp_mu, mask, ce.get("token")):
        return EDGE, ("log-probs handed to the loss in float16: exp(ℓ − ℓ_μ) computed in float16 overflows past "
                      f"log r = {HALF_EXP_LIMIT:.2f} (a sampled token the rollout found rare, e.g. μ = 1e−6, π = 0.5); "
                      "a pipeline that passes float32 log-probs never meets it, one that passes float16 ones "
                      "should upcast before exp")
    if kind == "gradient mismatch" and ce.get("token") is not None and ce.get("dtype") in ("bfloat16", "float16"):
        b, t = ce["token"]
        lr = logp[b][t] - logp_mu[b][t]
        h = oracle.TOLERANCES[ce["dtype"]].h * max(1.0, abs(logp[b][t]))
        near = [k for k in oracle.kinks(method, params) if k.kind == "log_ratio" and abs(lr - k.value) < 4 * h]
        if near:
            return EDGE, (f"{ce['dtype']} branch decision within the kink margin of log r = {near[0].value:.6g}: "
                          "the ratio computed in half precision lands on the other branch")
    return DEVIATES, "deviation from the reference on inputs real training produces"


def verdict(findings, declared, checks=()) -> str:
    """The run's verdict from its findings (objects with ``severity``), the design choices the
    target declared (a mapping, empty if none) and the checks' rows (dicts with ``status``): any
    check in status ``error`` makes the verdict ``error``."""
    if error_reason(checks):
        return "error"
    if any(f.severity == DEVIATES for f in findings):
        return "deviates"
    if findings:
        return "edge cases only"
    return "conforms with declared design choices" if declared else "conforms"


def error_reason(checks) -> str:
    """One line naming the first check that ended in status ``error`` (empty if none did)."""
    bad = [c for c in checks if c.get("status") == "error"]
    if not bad:
        return ""
    more = f" (and {len(bad) - 1} more check(s) in error)" if len(bad) > 1 else ""
    return f"check {bad[0]['name']} did not run: {bad[0].get('detail', '')}{more}"


def exit_code(v: str, strict: bool = False) -> int:
    """0 for the first three verdicts (only ``conforms*`` with ``strict``), else 1."""
    if v in ("deviates", "error"):
        return 1
    return 1 if strict and v == "edge cases only" else 0
