"""Held-out rollout logs, written the way an outside user writes them (adapted from an independent
red team's generators): a clean log in every format, tricky clean cases and one file per planted
defect. :func:`generate` writes them under a folder and returns the manifest
``{relative path: {"expect": [check] or [], "rows": [...] or "all", "columns": [...]}}``.

Policy: per position, logits = Zipf-like base over V tokens + context noise; μ = softmax of the
bf16-rounded logits (an inference engine), π = softmax of the fp32 logits + N(0, 0.03) noise;
certain tokens (forced, one-hot) have log-prob exactly 0.0 under both. Padding: token id 0 and
log-probs 0.0 (as verl pads). Advantages: group-centred 0/1 rewards (groups of 8).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

V, T, K, G = 3000, 160, 20, 8
PAD_ID = 0
BASE = -1.1 * np.log(np.arange(1, V + 1))                      # Zipf-like log-weights [V]
OTHER_NAMES = {"old_log_probs": "logprobs", "rollout_log_probs": "vllm_logprobs", "response_mask": "loss_mask",
               "advantages": "adv", "responses": "token_ids"}
TOPK_COLS = ("rollout_topk_ids", "rollout_topk_log_probs", "old_topk_log_probs")


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def sample(rng, B, *, top_p=None, top_k=None, certain_rate=0.03, lengths=None) -> dict:
    """B responses [B, T] (top-K columns [B, T, K]); ``top_p``/``top_k``: the sampler truncates
    and logs the renormalised μ (the defect ``truncated_sampling`` looks for)."""
    lengths = rng.integers(20, T + 1, size=B) if lengths is None else np.asarray(lengths)
    toks = np.full((B, T), PAD_ID, np.int64)
    lmu, lpi = np.zeros((B, T), np.float32), np.zeros((B, T), np.float32)
    tk_ids = np.zeros((B, T, K), np.int64)
    tk_mu, tk_pi = np.zeros((B, T, K), np.float32), np.zeros((B, T, K), np.float32)
    for b in range(B):
        for t in range(lengths[b]):
            perm = rng.permutation(V)
            logits = BASE[perm] * rng.uniform(0.6, 2.5) + rng.normal(0, 1.0, V)
            certain = rng.random() < certain_rate
            if certain:                      # forced token: one-hot, log-prob exactly 0 under both
                logits = np.full(V, -1e4)
                logits[perm[0]] = 0.0
            bf16 = torch.tensor(logits, dtype=torch.float32).to(torch.bfloat16).float().numpy()
            l_mu = _log_softmax(bf16.astype(np.float64))
            l_pi = _log_softmax(logits + (0 if certain else rng.normal(0, 0.03, V)))
            samp = l_mu
            keep = None
            if top_p is not None and not certain:
                order = np.argsort(-l_mu)
                keep = order[:np.searchsorted(np.cumsum(np.exp(l_mu[order])), top_p) + 1]
            elif top_k is not None and not certain:
                keep = np.argsort(-l_mu)[:top_k]
            if keep is not None:
                samp = np.full(V, -np.inf)
                samp[keep] = l_mu[keep] - np.log(np.exp(l_mu[keep]).sum())
            pr = np.exp(samp - samp.max())
            a = rng.choice(V, p=pr / pr.sum())
            if a == PAD_ID:                  # a real token is never the padding id
                a = next(x for x in np.argsort(-samp) if x != PAD_ID)
            toks[b, t] = a
            lmu[b, t], lpi[b, t] = samp[a], l_pi[a]
            top = np.argsort(-samp)[:K]
            tk_ids[b, t], tk_mu[b, t], tk_pi[b, t] = top, samp[top], l_pi[top]
    mask = (np.arange(T)[None] < lengths[:, None]).astype(np.float32)
    reward = rng.binomial(1, 0.4, size=B).astype(np.float32)
    gid = np.arange(B) // G
    adv = reward - np.array([reward[gid == g].mean() for g in gid], np.float32)
    return dict(responses=toks, old_log_probs=lpi, rollout_log_probs=lmu, response_mask=mask,
                advantages=(adv[:, None] * mask).astype(np.float32),
                rollout_topk_ids=tk_ids, rollout_topk_log_probs=tk_mu, old_topk_log_probs=tk_pi)


def _save(d: dict, path: Path, *, rename=None, cols=None) -> None:
    cols = cols or [k for k in d if d[k].ndim == 2]
    if path.suffix == ".pt":
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in d.items()}, path)
    elif path.suffix == ".npz":
        np.savez(path, **d)
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table({k: [row.tolist() for row in d[k]] for k in cols}), path)
    else:                                    # ragged JSONL: each list as long as the response
        rename = rename or {}
        lengths = d["response_mask"].sum(-1).astype(int)
        with open(path, "w") as f:
            for b, n in enumerate(lengths):
                f.write(json.dumps({rename.get(k, k): d[k][b][:n].tolist() for k in cols}) + "\n")


def generate(out: Path) -> dict:
    out = Path(out)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    (out / "defects").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    man: dict[str, dict] = {}

    def put(d, rel, expect=(), rows=None, **kw):
        _save(d, out / rel, **kw)
        man[rel] = {"expect": list(expect), "rows": rows}

    clean = sample(rng, 64)
    for name in ("clean.pt", "clean.npz", "clean.parquet", "clean_ragged.jsonl"):
        put(clean, f"clean/{name}")
    put(clean, "clean/clean_othernames.jsonl", rename=OTHER_NAMES, cols=list(OTHER_NAMES))
    man["clean/clean_othernames.jsonl"]["columns"] = [f"{k}={v}" for k, v in OTHER_NAMES.items()]
    # short responses, all-masked rows, 25 % certain tokens (some responses end with ≥ 2 of them),
    # one row exactly on-policy
    tricky = sample(rng, 32, certain_rate=0.25, lengths=[0, 0, 1, 1, 2, 3] + list(rng.integers(1, 12, size=26)))
    tricky["old_log_probs"][10] = tricky["rollout_log_probs"][10]
    put(tricky, "clean/tricky_clean.pt")
    put(tricky, "clean/tricky_clean.jsonl")

    L = clean["response_mask"].sum(-1).astype(int)

    def plant(name, rows, check, fn, suffixes=(".pt", ".parquet")):
        d = {k: v.copy() for k, v in clean.items()}
        fn(d)
        for s in suffixes:
            put(d, f"defects/{name}{s}", [check], rows)

    def zero_fill(d):                        # rollout log-probs missing, filled with 0.0
        for b in (3, 17, 40):
            d["rollout_log_probs"][b, :L[b]] = 0.0

    def zero_partial(d):                     # first 4 trainer log-probs of row 12 filled with 0.0
        d["old_log_probs"][12, :4] = 0.0

    def positive(d):                         # negative log-likelihoods stored
        for b in (5, 22):
            d["old_log_probs"][b, 4:9] = 0.3

    def nonfinite(d):
        d["rollout_log_probs"][7, [3, 8]] = np.nan
        d["old_log_probs"][30, 5] = -np.inf

    def shift_behind(d):                     # rollout log-probs one position late
        for b in (2, 11, 50):
            d["rollout_log_probs"][b, 1:L[b]] = clean["rollout_log_probs"][b, :L[b] - 1]

    def shift_ahead(d):                      # rollout log-probs one position early
        for b in (6, 33):
            d["rollout_log_probs"][b, :L[b] - 1] = clean["rollout_log_probs"][b, 1:L[b]]

    def mask_into_padding(d):                # the mask runs over padding (pad token id, log-probs 0.0)
        for b in (9, 25):
            d["response_mask"][b, L[b]:min(L[b] + 6, T)] = 1.0

    plant("zero_filled", [3, 17, 40], "zero_filled", zero_fill)
    plant("zero_filled_partial_trainer", [12], "zero_filled", zero_partial, (".pt",))
    plant("positive_logprob", [5, 22], "positive_logprob", positive)
    plant("nonfinite", [7, 30], "nonfinite", nonfinite)
    plant("shifted", [2, 11, 50], "shifted", shift_behind)
    plant("shifted_ahead", [6, 33], "shifted", shift_ahead, (".pt",))
    plant("mask_mismatch", [9, 25], "mask_mismatch", mask_into_padding)

    topp = sample(rng, 48, top_p=0.9)
    put(topp, "defects/truncated_sampling_topp09.pt", ["truncated_sampling"], "all")
    put(topp, "defects/truncated_sampling_topp09.jsonl", ["truncated_sampling"], "all")
    topk = sample(rng, 40, top_k=50)
    for k in TOPK_COLS:
        topk.pop(k)
    put(topk, "defects/truncated_sampling_topk50.npz", ["truncated_sampling"], "all")

    m = clean["response_mask"] > 0
    cert = (clean["rollout_log_probs"] == 0) & m
    # honest large mismatch on uncertain tokens (log-normal, E[π/μ] ≈ 1), certain tokens stay certain
    d = {k: v.copy() for k, v in clean.items() if k not in TOPK_COLS}
    noise = rng.normal(0, 0.25, d["old_log_probs"].shape).astype(np.float32) - 0.25 ** 2 / 2
    d["old_log_probs"] = np.where(m & ~cert, np.minimum(clean["rollout_log_probs"] + noise, -1e-6),
                                  clean["old_log_probs"]).astype(np.float32)
    put(d, "clean/clean_high_mismatch.pt")
    d = {k: v.copy() for k, v in clean.items()}
    d["old_log_probs"][cert] = -2e-4        # sampler's bf16 log-prob saturates at 0.0, trainer's does not
    put(d, "clean/near_certain_bf16.pt")
    d = {k: v.copy() for k, v in clean.items()}
    d["old_log_probs"][cert] = 5.96e-8      # fp32 rounding above 0 on certain tokens
    put(d, "clean/rounding_tiny_positive.pt")
    return man
