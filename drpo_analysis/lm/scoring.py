"""Generate under an inference configuration, score under the training configuration (fp32).

For a batch of prompts (left-padded, [B, P]):

1. **sample** — the inference model (``precision.inference_model``) decodes ``T`` tokens with a KV
   cache, sampling from ``μ = softmax(z_inf / temperature)`` truncated to the top-p nucleus. Each
   step's full log μ [B, V] is kept (float32), so log μ is exactly the distribution that was
   sampled from (what an engine logs as ``rollout_log_probs``);
2. **score** — one teacher-forced fp32 forward pass over prompt + response gives
   ``log π = log_softmax(z_fp32 / temperature)`` [B, T, V] (the trainer's ``old_log_probs``);
3. **divergences** — exact TV, KL(μ‖π), KL(π‖μ) per position over the whole vocabulary
   (``core.divergences.reference_divergences``, float64, in chunks of rows), and the top-K(μ)
   ids with their log μ and log π (the columns DPPO's Top-K approximation needs, arXiv:2602.04879 §4.2).

No forward pass is repeated: the divergences reuse the distributions of steps 1-2, so they cost
element-wise work over [B·T, V], not another pass (``drpo-analysis bench`` measures it).

Vocabulary-level accumulators (:class:`VocabStats`) summarise |π − μ| and |π/μ − 1| over *every*
vocabulary entry of every position by μ bucket — counts that sampled tokens alone cannot give
for μ ≤ 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drpo_analysis.core import divergences
from drpo_analysis.lm import precision as _precision
from drpo_analysis.util.stats import MU_EDGES, MU_LABELS

# log10 |π − μ| histogram bins (for the vocabulary-level medians): 0.05 decade from 1e-16 to 1.
HIST_EDGES = np.arange(-16.0, 0.0 + 1e-9, 0.05)


@dataclass(frozen=True)
class InferenceConfig:
    precision: str = "bf16"
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 96

    def __post_init__(self):
        _precision._check(self.precision)
        if not (self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not (0 < self.top_p <= 1):
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")
        if not (isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1):
            raise ValueError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")


@dataclass
class VocabStats:
    """Running sums over all vocabulary entries at all response positions, by μ bucket."""
    count: np.ndarray = field(default_factory=lambda: np.zeros(len(MU_LABELS), np.int64))
    sum_abs_diff: np.ndarray = field(default_factory=lambda: np.zeros(len(MU_LABELS)))
    sum_abs_r1: np.ndarray = field(default_factory=lambda: np.zeros(len(MU_LABELS)))
    hist: np.ndarray = field(default_factory=lambda: np.zeros((len(MU_LABELS), len(HIST_EDGES) + 1), np.int64))

    def add(self, logp_mu, logp_pi) -> None:
        """logp_mu, logp_pi: torch [N, V] float32 log-probabilities. Entries with μ = 0 (top-p)
        are skipped (r = π/μ is undefined there). One bucket index per entry, then weighted
        bincounts; the |π − μ| histogram bin is computed arithmetically (uniform log10 bins)."""
        import torch
        nb, nh = len(MU_LABELS), len(HIST_EDGES) + 1
        mu = logp_mu.exp().reshape(-1)
        b = torch.bucketize(mu, torch.tensor(MU_EDGES[1:-1], dtype=mu.dtype)).clamp(max=nb - 1)     # (lo, hi]
        b = torch.where(mu > 0, b, nb)                                                              # dropped
        diff = (logp_pi.exp().reshape(-1) - mu).abs()
        r1 = torch.nan_to_num((logp_pi - logp_mu).reshape(-1).expm1().abs(), nan=0.0, posinf=0.0)
        step = float(HIST_EDGES[1] - HIST_EDGES[0])
        h = ((diff.clamp(min=1e-30).log10() - float(HIST_EDGES[0])) / step).ceil().clamp(0, nh - 1).long()
        self.count += torch.bincount(b, minlength=nb + 1)[:nb].numpy()
        self.sum_abs_diff += torch.bincount(b, weights=diff.double(), minlength=nb + 1)[:nb].numpy()
        self.sum_abs_r1 += torch.bincount(b, weights=r1.double(), minlength=nb + 1)[:nb].numpy()
        self.hist += torch.bincount(b * nh + h, minlength=(nb + 1) * nh)[:nb * nh].reshape(nb, nh).numpy()

    def summary(self) -> list[dict]:
        rows = []
        for k, label in enumerate(MU_LABELS):
            n = int(self.count[k])
            rows.append({"bucket": label, "tokens": n,
                         "mean_abs_pi_minus_mu": float(self.sum_abs_diff[k] / n) if n else None,
                         "median_abs_pi_minus_mu": _hist_median(self.hist[k]) if n else None,
                         "mean_abs_r_minus_1": float(self.sum_abs_r1[k] / n) if n else None})
        return rows


def _hist_median(h: np.ndarray) -> float:
    """Median of log10-binned values: the geometric centre of the bin holding the middle count."""
    i = int(np.searchsorted(np.cumsum(h), (h.sum() + 1) / 2))
    lo = HIST_EDGES[i - 1] if i >= 1 else HIST_EDGES[0] - 1.0
    hi = HIST_EDGES[i] if i < len(HIST_EDGES) else 0.0
    return float(10 ** ((lo + hi) / 2))


def encode_prompts(tokenizer, prompts: list[str]):
    """Chat-formatted, left-padded prompt ids and attention mask, torch [B, P] each."""
    import torch
    rows = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                          tokenize=True, return_dict=True)["input_ids"] for p in prompts]
    P = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(rows), P), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), P), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, P - len(r):] = torch.tensor(r)
        attn[i, P - len(r):] = 1
    return ids, attn


def _positions(attn):
    return (attn.cumsum(-1) - 1).clamp(min=0)


def process_logits(logits, cfg: InferenceConfig):
    """Inference logits [B, V] (any dtype) → log μ [B, V] float32: temperature, then top-p
    nucleus (smallest set of most likely tokens with mass ≥ top_p; the rest get −inf)."""
    import torch
    logp = torch.log_softmax(logits.float() / cfg.temperature, dim=-1)
    if cfg.top_p < 1.0:
        sorted_lp, order = logp.sort(dim=-1, descending=True)
        before = sorted_lp.exp().cumsum(-1) - sorted_lp.exp()                   # mass strictly above
        drop_sorted = before >= cfg.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logp = torch.log_softmax(logp.masked_fill(drop, float("-inf")), dim=-1)
    return logp


def sample(model, prompt_ids, attn, cfg: InferenceConfig, *, eos_id: int, pad_id: int, generator):
    """Decode ``cfg.max_new_tokens`` tokens with a KV cache. Returns responses [B, T] (pad after
    EOS), response mask [B, T] (1 up to and including EOS) and the per-step log μ [B, T, V]."""
    import torch
    B, T = prompt_ids.shape[0], cfg.max_new_tokens
    responses = torch.full((B, T), pad_id, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    logp_mu = []
    done = torch.zeros(B, dtype=torch.bool)
    with torch.no_grad():
        out = model(input_ids=prompt_ids, attention_mask=attn, position_ids=_positions(attn), use_cache=True)
        pos = _positions(attn)[:, -1:]
        for t in range(T):
            lp = process_logits(out.logits[:, -1], cfg)                                  # [B, V]
            tok = torch.multinomial(lp.exp(), 1, generator=generator).squeeze(1)         # [B]
            tok = torch.where(done, torch.full_like(tok, pad_id), tok)
            responses[:, t], mask[:, t] = tok, (~done).long()
            logp_mu.append(lp)
            done |= tok == eos_id
            if bool(done.all()):
                break
            attn = torch.cat([attn, torch.ones((B, 1), dtype=attn.dtype)], 1)
            pos = pos + 1
            out = model(input_ids=tok[:, None], attention_mask=attn, position_ids=pos,
                        past_key_values=out.past_key_values, use_cache=True)
    steps = len(logp_mu)
    return responses[:, :steps], mask[:, :steps], torch.stack(logp_mu, 1)


def score(model, prompt_ids, attn, responses, temperature: float):
    """One teacher-forced fp32 forward pass: log π [B, T, V] float32 of every response position."""
    import torch
    T = responses.shape[1]
    ids = torch.cat([prompt_ids, responses], 1)
    full_attn = torch.cat([attn, torch.ones_like(responses)], 1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=full_attn, position_ids=_positions(full_attn),
                       logits_to_keep=T + 1).logits[:, :-1]                                  # [B, T, V]
        logits = logits.float()
        return torch.log_softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)


def exact_divergences(logp_mu, logp_pi, *, rows_per_chunk: int = 64) -> dict[str, np.ndarray]:
    """Exact TV, KL(μ‖π), KL(π‖μ) over the vocabulary per row: torch [N, V] → numpy [N] each
    (float64, ``core.divergences.reference_divergences`` on chunks of rows; 0·log 0 = 0, and
    KL(π‖μ) = +inf where top-p gave μ = 0 to a token π keeps)."""
    N = logp_mu.shape[0]
    out = {k: np.empty(N) for k in divergences.FULL_KINDS}
    for i in range(0, N, rows_per_chunk):
        mu = logp_mu[i:i + rows_per_chunk].double().exp()
        pi = logp_pi[i:i + rows_per_chunk].double().exp()
        mu, pi = mu / mu.sum(-1, keepdim=True), pi / pi.sum(-1, keepdim=True)        # exact to 1 ulp
        d = divergences.reference_divergences(mu.numpy(), pi.numpy())
        for k in out:
            out[k][i:i + rows_per_chunk] = d[k]
    return out


def rollout_batch(base, inf_model, tokenizer, tasks, cfg: InferenceConfig, *, generator, topk: int = 20,
                  vocab: VocabStats | None = None) -> dict[str, np.ndarray]:
    """Generate, score and measure one batch of tasks; arrays named as verl's batch ([B, T] unless
    noted): ``responses``, ``response_mask``, ``rollout_log_probs`` (log μ), ``old_log_probs``
    (log π), ``exact_tv``, ``exact_kl``, ``exact_kl_reverse``, ``rollout_topk_ids`` /
    ``rollout_topk_log_probs`` / ``old_topk_log_probs`` [B, T, K] and ``rewards`` [B]."""
    import torch
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, attn = encode_prompts(tokenizer, [t.prompt for t in tasks])
    resp, mask, lmu = sample(inf_model, ids, attn, cfg, eos_id=tokenizer.eos_token_id, pad_id=pad,
                             generator=generator)
    lpi = score(base, ids, attn, resp, cfg.temperature)                                  # [B, T, V]
    B, T, V = lpi.shape
    live = mask.bool().reshape(-1)
    flat_mu, flat_pi = lmu.reshape(-1, V), lpi.reshape(-1, V)
    div = exact_divergences(flat_mu[live], flat_pi[live])
    if vocab is not None:
        vocab.add(flat_mu[live], flat_pi[live])
    top = torch.topk(lmu, topk, dim=-1).indices                                          # [B, T, K]
    out = {
        "responses": resp.numpy().astype(np.int64),
        "response_mask": mask.numpy().astype(np.int8),
        "rollout_log_probs": lmu.gather(-1, resp[..., None]).squeeze(-1).numpy(),
        "old_log_probs": lpi.gather(-1, resp[..., None]).squeeze(-1).numpy(),
        "rollout_topk_ids": top.numpy().astype(np.int32),
        "rollout_topk_log_probs": lmu.gather(-1, top).numpy(),
        "old_topk_log_probs": lpi.gather(-1, top).numpy(),
        "rewards": np.array([t.reward(tokenizer.decode(r[m.bool()], skip_special_tokens=True))
                             for t, r, m in zip(tasks, resp, mask)]),
    }
    off = ~mask.numpy().astype(bool)       # after EOS: nothing was sampled, log-probs are 0 padding
    for k in ("rollout_log_probs", "old_log_probs", "rollout_topk_log_probs", "old_topk_log_probs"):
        out[k][off] = 0.0
    out["rollout_topk_ids"][off] = 0
    for name, key in (("exact_tv", "tv"), ("exact_kl", "kl_mu_pi"), ("exact_kl_reverse", "kl_pi_mu")):
        col = np.zeros(B * T)
        col[live.numpy()] = div[key]
        out[name] = col.reshape(B, T)
    return out
