"""The self-test corpus: realistic buggy policy losses (docs/methods.md#bug-classes) and the correct
implementation of every registered method (the torch face), all with the canonical signature.

``self_test(seeds)`` fuzzes each of them: a mutant is *killed* when the fuzzer reports a finding,
a correct implementation with a finding is a *false positive*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from drpo_analysis.core import aggregation, losses_torch, methods
from drpo_analysis.core.methods.base import BatchInputs, build_extras


def correct(name: str, *, agg: str = "token-mean", horizon: float | None = None) -> Callable:
    """The torch face of method ``name`` aggregated by ``agg``, with the canonical signature
    (GSPO's frozen sequence statistics computed from the batch, Top-K sets as keyword arguments)."""
    m = methods.get(name)
    wanted = m.batch_fields - {"logp", "logp_mu", "mask"}   # batch inputs passed as keywords

    def loss(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None, group_ids=None, **params):
        given = {k: params.pop(k) for k in list(params) if k in wanted}
        extras = build_extras(m, BatchInputs(logp.detach(), logp_mu, losses_torch.check_mask(mask, logp.shape),
                                             **given)) if m.extras else None
        kw = {"horizon": horizon} if agg == "seq-mean-token-sum-norm" else {}
        if agg == "prompt-mean":
            kw["group_ids"] = group_ids
        return losses_torch.policy_loss(name, logp, logp_mu, adv, mask, agg=agg, params=params,
                                        extras=extras, num_tokens=num_tokens, num_seqs=num_seqs, **kw)
    loss.__name__ = loss.__qualname__ = f"correct_{name}"
    return loss


# --- helpers the mutants share: correct masking and aggregation ------------------------------

def _safe(t, mask, fill=math.log(0.5)):
    return torch.where(mask, t, torch.full_like(t, fill))


def _token_mean(per_token, mask, num_tokens=None):
    return aggregation.aggregate(per_token, mask, "token-mean", num_tokens=num_tokens)


def _inputs(logp, logp_mu, adv, mask):
    """Masked positions replaced by safe values (what a careful implementation does)."""
    return _safe(logp, mask), _safe(logp_mu, mask), torch.where(mask, adv, torch.zeros_like(adv))


def _ratio(logp, logp_mu):
    return torch.exp((logp - logp_mu).clamp(-80, 80))


def _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    r = _ratio(lp, lm)
    return r, a, lp, lm, -r * a, -torch.clamp(r, 1 - eps_low, 1 + eps_high) * a


# --- the mutants ---------------------------------------------------------------------------

def ppo_no_min(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    r, a, *_, l1, l2 = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    return _token_mean(l2, mask, num_tokens)                    # clipped term only


def ppo_min_max_swapped(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    r, a, *_, l1, l2 = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    return _token_mean(torch.minimum(l1, l2), mask, num_tokens)  # pessimistic bound inverted


def ppo_eps_swapped(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    r, a, *_, l1, _ = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    l2 = -torch.clamp(r, 1 - eps_high, 1 + eps_low) * a         # ε_l and ε_h exchanged
    return _token_mean(torch.maximum(l1, l2), mask, num_tokens)


def ppo_ratio_detached(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    r, a, *_ = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    r = r.detach()                                              # stop-gradient on the wrong factor
    return _token_mean(torch.maximum(-r * a, -torch.clamp(r, 1 - eps_low, 1 + eps_high) * a), mask, num_tokens)


def dual_clip_not_applied(logp, logp_mu, adv, mask, *, eps_low, eps_high, dual_clip_c, num_tokens=None,
                          num_seqs=None):
    *_, l1, l2 = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    return _token_mean(torch.maximum(l1, l2), mask, num_tokens)   # c never reaches the loss


def dual_clip_both_signs(logp, logp_mu, adv, mask, *, eps_low, eps_high, dual_clip_c, num_tokens=None,
                         num_seqs=None):
    r, a, *_, l1, l2 = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    return _token_mean(torch.minimum(torch.maximum(l1, l2), -dual_clip_c * a), mask, num_tokens)  # no Â<0 test


def dual_clip_constant_hardcoded(logp, logp_mu, adv, mask, *, eps_low, eps_high, dual_clip_c, num_tokens=None,
                                 num_seqs=None):
    r, a, *_, l1, l2 = _ppo_pieces(logp, logp_mu, adv, mask, eps_low, eps_high)
    clipped = torch.where(a < 0, torch.minimum(torch.maximum(l1, l2), -3.0 * a), torch.maximum(l1, l2))
    return _token_mean(clipped, mask, num_tokens)                 # the configured c is ignored


def cispo_not_detached(logp, logp_mu, adv, mask, *, clip_max, clip_min, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    w = torch.clamp(_ratio(lp, lm), clip_min, clip_max)          # missing .detach()
    return _token_mean(-w * a * lp, mask, num_tokens)


def cispo_untruncated(logp, logp_mu, adv, mask, *, clip_max, clip_min, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    return _token_mean(-_ratio(lp, lm).detach() * a * lp, mask, num_tokens)   # C never applied


def _dppo_tv(logp, logp_mu, adv, mask, delta_low, delta_high, *, masked_fn, detach=True):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    r = _ratio(lp, lm)
    keep = ~masked_fn(lp, lm, a, r, delta_low, delta_high)
    r = r.detach() if detach else r
    return -a * r * keep * lp


def dppo_mask_ignores_sign(logp, logp_mu, adv, mask, *, delta_low, delta_high, num_tokens=None, num_seqs=None):
    f = lambda lp, lm, a, r, dl, dh: (lp.exp() - lm.exp()).abs() > dh   # noqa: E731 - drops converging updates too
    return _token_mean(_dppo_tv(logp, logp_mu, adv, mask, delta_low, delta_high, masked_fn=f), mask, num_tokens)


def dppo_ratio_not_detached(logp, logp_mu, adv, mask, *, delta_low, delta_high, num_tokens=None, num_seqs=None):
    f = lambda lp, lm, a, r, dl, dh: ((a > 0) & (lp.exp() - lm.exp() > dh)) | ((a < 0) & (lm.exp() - lp.exp() > dl))  # noqa: E731
    return _token_mean(_dppo_tv(logp, logp_mu, adv, mask, delta_low, delta_high, masked_fn=f, detach=False),
                       mask, num_tokens)


def dppo_mask_on_ratio(logp, logp_mu, adv, mask, *, delta_low, delta_high, num_tokens=None, num_seqs=None):
    f = lambda lp, lm, a, r, dl, dh: ((a > 0) & (r - 1 > dh)) | ((a < 0) & (1 - r > dl))  # noqa: E731 - PPO's region
    return _token_mean(_dppo_tv(logp, logp_mu, adv, mask, delta_low, delta_high, masked_fn=f), mask, num_tokens)


def _drpo(logp, logp_mu, adv, mask, delta, penalty):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    r = _ratio(lp, lm)
    return -(r * a - penalty(lp, lm, a, r) / (2 * delta))


def drpo_mu_pi_swapped(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    per = _drpo(logp, logp_mu, adv, mask, delta, lambda lp, lm, a, r: a.abs() * lp.exp() * (r - 1) ** 2)
    return _token_mean(per, mask, num_tokens)


def drpo_delta_factor(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    per = _drpo(logp, logp_mu, adv, mask, delta / 2, lambda lp, lm, a, r: a.abs() * lm.exp() * (r - 1) ** 2)
    return _token_mean(per, mask, num_tokens)                       # δ/2: the ½ counted twice


def drpo_abs_adv_dropped(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    per = _drpo(logp, logp_mu, adv, mask, delta, lambda lp, lm, a, r: a * lm.exp() * (r - 1) ** 2)
    return _token_mean(per, mask, num_tokens)                       # Â instead of |Â|


def drpo_spo_penalty(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    per = _drpo(logp, logp_mu, adv, mask, delta, lambda lp, lm, a, r: a.abs() * (r - 1) ** 2)
    return _token_mean(per, mask, num_tokens)                       # μ factor lost: SPO's χ² penalty


def drpo_wrong_sign(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    per = _drpo(logp, logp_mu, adv, mask, delta, lambda lp, lm, a, r: a.abs() * lm.exp() * (r - 1) ** 2)
    return -_token_mean(per, mask, num_tokens)                      # returns J, not the loss −J


def dro_beta_factor(logp, logp_mu, adv, mask, *, beta, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    return _token_mean(-(a * lp - beta * (lp - lm) ** 2), mask, num_tokens)   # ½ dropped


def gspo_ratio_not_detached(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    m = mask.to(lp.dtype)
    L = ((lp - lm) * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp(min=1)
    s = torch.exp(L + lp - lp.detach())                             # L should be detached
    per = torch.maximum(-a * s, -a * torch.clamp(s, 1 - eps_low, 1 + eps_high))
    return aggregation.aggregate(per, mask, "seq-mean-token-mean", num_seqs=num_seqs)


def gspo_mean_over_padding(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    L = (lp - lm).detach().mean(-1, keepdim=True)                   # divides by the padded width
    s = torch.exp(L + lp - lp.detach())
    per = torch.maximum(-a * s, -a * torch.clamp(s, 1 - eps_low, 1 + eps_high))
    return aggregation.aggregate(per, mask, "seq-mean-token-mean", num_seqs=num_seqs)


def tis_seq_mean_for_sum(logp, logp_mu, adv, mask, *, clip_min, clip_max, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    m = mask.to(lp.dtype)
    L = ((lp - lm) * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp(min=1)   # log Π r_t is the sum
    w = torch.exp(L.detach()).clamp(min=clip_min, max=clip_max)
    return _token_mean(-w * a * lp, mask, num_tokens)


def _pg_is_per_token(logp, logp_mu, adv, mask):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    return -_ratio(lp, lm) * a


def pg_wrong_sign(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    return -_token_mean(_pg_is_per_token(logp, logp_mu, adv, mask), mask, num_tokens)


def seq_sum_divided_by_length(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    per = _pg_is_per_token(logp, logp_mu, adv, mask)                # declared seq-mean-token-sum
    return aggregation.aggregate(per, mask, "seq-mean-token-mean", num_seqs=num_seqs)


def mean_of_micro_batch_means(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    return _token_mean(_pg_is_per_token(logp, logp_mu, adv, mask), mask)   # global count ignored


def seq_mean_local_rows(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    per = _pg_is_per_token(logp, logp_mu, adv, mask)                # global sequence count ignored
    return aggregation.aggregate(per, mask, "seq-mean-token-mean")


def horizon_is_padded_width(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    per = _pg_is_per_token(logp, logp_mu, adv, mask)                # L_const replaced by T
    return aggregation.aggregate(per, mask, "seq-mean-token-sum-norm", horizon=mask.shape[-1], num_seqs=num_seqs)


def prompt_mean_as_token_mean(logp, logp_mu, adv, mask, *, group_ids=None, num_tokens=None, num_seqs=None):
    return _token_mean(_pg_is_per_token(logp, logp_mu, adv, mask), mask, num_tokens)


def unmasked_numerator(logp, logp_mu, adv, mask):
    r = _ratio(logp, _safe(logp_mu, mask))                          # padding enters the sum
    return (-r * adv).nan_to_num(0.0).sum() / mask.sum().clamp(min=1)


def nan_times_zero(logp, logp_mu, adv, mask):
    per = -_ratio(logp, logp_mu) * adv                              # NaN/inf at padding …
    return (per * mask).sum() / mask.sum().clamp(min=1)             # … survives ·0


def where_after_the_fact(logp, logp_mu, adv, mask):
    per = -torch.exp(logp - logp_mu) * adv                          # forward masked, backward NaN
    per = torch.where(mask, per, torch.zeros_like(per))
    return per.sum() / mask.sum().clamp(min=1)


def exp_overflow(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    lp, lm, a = _inputs(logp, logp_mu, adv, mask)
    return _token_mean(-torch.exp(lp - lm) * a, mask, num_tokens)   # no clamp: inf at log r > 88


def bf16_ratio_drift(logp, logp_mu, adv, mask, *, eps_low, eps_high, num_tokens=None, num_seqs=None):
    lm = logp_mu.to(torch.bfloat16).to(logp.dtype)                  # old log-probs stored in bf16
    return losses_torch.policy_loss("ppo_clip", logp, lm, adv, mask, params={"eps_low": eps_low, "eps_high": eps_high},
                                    num_tokens=num_tokens)


def empty_batch_nan(logp, logp_mu, adv, mask):
    per = _pg_is_per_token(logp, logp_mu, adv, mask)                # 0/0 on an all-masked batch
    return torch.where(mask, per, torch.zeros_like(per)).sum() / mask.sum()


def mutates_inputs(logp, logp_mu, adv, mask, *, num_tokens=None, num_seqs=None):
    logp_mu.masked_fill_(~mask, 0.0)                                # "cleans" the caller's tensor in place
    adv.masked_fill_(~mask, 0.0)
    return _token_mean(_pg_is_per_token(logp, logp_mu, adv, mask), mask, num_tokens)


@dataclass(frozen=True)
class Mutant:
    name: str
    bug_class: str
    method: str
    fn: Callable
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


MUTANTS = (
    Mutant("ppo_no_min", "clip direction", "ppo_clip", ppo_no_min),
    Mutant("ppo_min_max_swapped", "clip direction", "ppo_clip", ppo_min_max_swapped),
    Mutant("ppo_eps_swapped", "clip constant", "ppo_clip", ppo_eps_swapped),
    Mutant("ppo_ratio_detached", "stop-gradient misplaced", "ppo_clip", ppo_ratio_detached),
    Mutant("dual_clip_not_applied", "dual-clip not applied", "dual_clip", dual_clip_not_applied),
    Mutant("dual_clip_both_signs", "dual-clip direction", "dual_clip", dual_clip_both_signs),
    Mutant("dual_clip_constant_hardcoded", "dual-clip constant not reaching the loss", "dual_clip",
           dual_clip_constant_hardcoded, {"dual_clip_c": 5.0}),
    Mutant("cispo_not_detached", "stop-gradient missing (CISPO coefficient)", "cispo", cispo_not_detached),
    Mutant("cispo_untruncated", "truncation constant not applied", "cispo", cispo_untruncated),
    Mutant("dppo_mask_ignores_sign", "clip direction (mask drops converging updates)", "dppo_binary_tv",
           dppo_mask_ignores_sign),
    Mutant("dppo_ratio_not_detached", "stop-gradient missing (IS weight)", "dppo_binary_tv", dppo_ratio_not_detached),
    Mutant("dppo_mask_on_ratio", "trust region on r instead of Δ", "dppo_binary_tv", dppo_mask_on_ratio),
    Mutant("drpo_mu_pi_swapped", "μ and π swapped in the penalty", "drpo", drpo_mu_pi_swapped, {"delta": 0.2}),
    Mutant("drpo_delta_factor", "δ off by a factor", "drpo", drpo_delta_factor, {"delta": 0.2}),
    Mutant("drpo_abs_adv_dropped", "|Â| dropped", "drpo", drpo_abs_adv_dropped, {"delta": 0.2}),
    Mutant("drpo_spo_penalty", "μ factor lost (SPO's penalty)", "drpo", drpo_spo_penalty, {"delta": 0.2}),
    Mutant("drpo_wrong_sign", "wrong sign", "drpo", drpo_wrong_sign, {"delta": 0.2}),
    Mutant("dro_beta_factor", "coefficient off by a factor", "dro", dro_beta_factor),
    Mutant("gspo_ratio_not_detached", "stop-gradient missing (sequence ratio)", "gspo_token",
           gspo_ratio_not_detached, options={"agg": "seq-mean-token-mean"}),
    Mutant("gspo_mean_over_padding", "mask leakage (sequence mean over padding)", "gspo_token",
           gspo_mean_over_padding, options={"agg": "seq-mean-token-mean"}),
    Mutant("tis_seq_mean_for_sum", "sequence statistic (mean of the log-ratios for their sum)", "tis_seq",
           tis_seq_mean_for_sum),
    Mutant("pg_wrong_sign", "wrong sign", "pg_is", pg_wrong_sign),
    Mutant("seq_sum_divided_by_length", "wrong normaliser (sequence-sum divided by length)", "pg_is",
           seq_sum_divided_by_length, options={"agg": "seq-mean-token-sum"}),
    Mutant("mean_of_micro_batch_means", "wrong normaliser (mean of micro-batch means)", "pg_is",
           mean_of_micro_batch_means),
    Mutant("seq_mean_local_rows", "dependence on the data-parallel split", "pg_is", seq_mean_local_rows,
           options={"agg": "seq-mean-token-mean"}),
    Mutant("horizon_is_padded_width", "constant horizon replaced by the padded width", "pg_is",
           horizon_is_padded_width, options={"agg": "seq-mean-token-sum-norm", "horizon": 12}),
    Mutant("prompt_mean_as_token_mean", "wrong normaliser (prompt-mean)", "pg_is", prompt_mean_as_token_mean,
           options={"agg": "prompt-mean"}),
    Mutant("unmasked_numerator", "mask leakage (unmasked numerator)", "pg_is", unmasked_numerator),
    Mutant("nan_times_zero", "NaN·0 at masked −inf", "pg_is", nan_times_zero),
    Mutant("where_after_the_fact", "NaN gradient through torch.where", "pg_is", where_after_the_fact),
    Mutant("exp_overflow", "overflow of exp on large log-ratios", "pg_is", exp_overflow),
    Mutant("bf16_ratio_drift", "bf16 on-policy ratio ≠ 1", "ppo_clip", bf16_ratio_drift),
    Mutant("empty_batch_nan", "NaN on an empty / all-masked batch", "pg_is", empty_batch_nan),
    Mutant("mutates_inputs", "inputs modified in place (masked_fill_ on old log-probs)", "pg_is", mutates_inputs),
)


def targets(kind: str = "all"):
    """(label, Target, is_mutant) for the corpus: mutants, correct implementations, or both."""
    from drpo_analysis.fuzz.adapters import plain
    out = []
    if kind in ("all", "mutants"):
        for mu in MUTANTS:
            out.append((mu.name, plain.target(mu.fn, method=mu.method, params=mu.params, name=mu.name,
                                              spec=f"drpo_analysis.fuzz.mutants:{mu.fn.__name__}", **mu.options),
                        True))
    if kind in ("all", "correct"):
        variants = [(name, {}, {}) for name in methods.names()] + list(CORRECT_VARIANTS)
        for name, params, opts in variants:
            label = f"correct_{name}" + "".join(f"_{v}" for v in {**params, **opts}.values())
            repro = ("from drpo_analysis.fuzz import mutants\nfrom drpo_analysis.fuzz.adapters import plain\n"
                     f"target = plain.target(mutants.correct({name!r}, **{opts!r}), method={name!r}, "
                     f"params={params!r}, **{opts!r})")
            out.append((label, plain.target(correct(name, **opts), method=name, params=params, name=label,
                                            reproducer=repro, **opts), False))
    return out


#: correct implementations under other aggregation modes and non-default parameters
CORRECT_VARIANTS = (
    ("drpo", {"delta": 0.2}, {"agg": "seq-mean-token-mean"}),
    ("ppo_clip", {"eps_low": 0.1, "eps_high": 0.1}, {"agg": "prompt-mean"}),
    ("dual_clip", {"dual_clip_c": 5.0}, {"agg": "seq-mean-token-sum"}),
    ("pg_is", {}, {"agg": "seq-mean-token-sum-norm", "horizon": 12}),
    ("dppo_binary_tv", {"delta_low": 0.05, "delta_high": 0.3}, {"agg": "token-sum"}),
    ("cispo", {"clip_max": 1.28, "clip_min": 0.8}, {}),
)


#: Seeds of the self-test unless told otherwise.
SEEDS = (0, 1, 2, 3, 4)


def self_test(seeds=SEEDS, *, examples: int = 8, progress: bool = False) -> dict:
    """Mutation score over ``seeds``: {"mutants", "killed", "score", "false_positives", "per_seed",
    "survivors", "false_positive_targets", "kills", "edge_only"}. A mutant counts as killed if it
    has a finding on every seed (``--strict``); ``edge_only`` lists the mutants whose findings were
    all edge cases (exit 0 without ``--strict``). A correct implementation is a false positive when
    its verdict is ``deviates``."""
    from tqdm import tqdm

    from drpo_analysis.fuzz.runner import fuzz

    corpus = targets()
    per_seed, survivors, fps, kills, edge_only = [], {}, {}, {}, set()
    jobs = [(s, c) for s in seeds for c in corpus]
    for seed in seeds:
        per_seed.append({"seed": seed, "killed": 0, "false_positives": 0})
    for seed, (label, tgt, is_mutant) in tqdm(jobs, desc="self-test", disable=not progress, leave=False):
        rep = fuzz(tgt, seed=seed, examples=examples, stop_at_first=True)
        row = per_seed[list(seeds).index(seed)]
        if is_mutant and rep.findings:
            row["killed"] += 1
            first = next(f for f in rep.findings if f.severity == "deviates") if not rep.ok else rep.findings[0]
            kills.setdefault(label, f"{first.check}: {first.kind}")
            if rep.ok:
                edge_only.add(label)
        elif is_mutant:
            survivors.setdefault(label, []).append(seed)
        elif not rep.ok:
            row["false_positives"] += 1
            bad = next(f for f in rep.findings if f.severity == "deviates")
            fps.setdefault(label, []).append({"seed": seed, "check": bad.check, "message": bad.message})
    n_mut = sum(1 for *_, m in corpus if m)
    for row in per_seed:
        row["score"] = row["killed"] / n_mut
    killed = n_mut - len(survivors)
    return {"mutants": n_mut, "killed": killed, "score": killed / n_mut,
            "false_positives": len(fps), "correct_implementations": len(corpus) - n_mut,
            "seeds": list(seeds), "per_seed": per_seed, "survivors": survivors,
            "false_positive_targets": fps, "kills": kills, "edge_only": sorted(edge_only),
            "bug_classes": {mu.name: mu.bug_class for mu in MUTANTS}}
