"""Rollouts: a separate *sampler* copy of the policy generates responses and records the
behaviour log-probability ``log μ`` of every sampled token, under a controlled mismatch.

Mismatch (:data:`MISMATCH`, the grammar of :mod:`drpo_analysis.core.mismatch`; parts joined by
``+``, e.g. ``"bf16+noise=0.3+stale=2"``):

* ``bf16``: the sampler runs in bfloat16 (weights and activations); log-softmax in float32;
* ``fp8``: sampler weight matrices rounded to float8 e4m3 with a per-tensor scale
  (``amax / 448``, as FP8 inference engines do), computed in float32;
* ``fp8logits``: the sampler's logits rounded to e4m3 (per-row scale) before the softmax;
* ``noise=σ``: Gaussian noise ``σ·N(0, 1)`` added to the sampler logits (from a seeded generator);
* ``noise_pow=β``: with ``noise=σ``, the noise of token j is scaled by ``p_j^β`` (``p`` the
  unperturbed sampler probabilities): the mismatch model fitted to a real model's per-μ-bucket
  ``|π − μ|`` (:mod:`drpo_analysis.rl.mismatch_fit`);
* ``stale=k``: the sampler's weights are those of the policy k training iterations earlier.

μ is the distribution the token was actually drawn from, so it includes every perturbation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from drpo_analysis.rl.mismatch_fit import perturb_logits
from drpo_analysis.core.mismatch import MismatchGrammar, MismatchSpec
from drpo_analysis.rl.model import ModelConfig, TinyGPT
from drpo_analysis.rl.tasks import EOS, PAD

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


#: The mismatches the RL sampler implements (grammar: :mod:`drpo_analysis.core.mismatch`).
MISMATCH = MismatchGrammar(precisions=("bf16", "fp8", "fp8logits"), parameters=("noise", "noise_pow", "stale"))


def fp8_round(t: torch.Tensor, dim=None) -> torch.Tensor:
    """Round to float8 e4m3 with a scale ``amax/448`` (per tensor, or per slice along ``dim``)."""
    amax = t.abs().amax() if dim is None else t.abs().amax(dim=dim, keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    return (t / scale).to(FP8).to(t.dtype) * scale


@dataclass
class Rollout:
    prompts: torch.Tensor    # [B, P] int64
    tokens: torch.Tensor     # [B, A] int64, PAD after EOS
    mask: torch.Tensor       # [B, A] bool, True up to and including EOS
    logp_mu: torch.Tensor    # [B, A] float32, log μ of the sampled token (0 on padding)
    topk_ids: torch.Tensor | None = None     # [B, A, K] ids of top-K(μ) ∪ {sampled}
    topk_logp_mu: torch.Tensor | None = None  # [B, A, K]

    @property
    def sequences(self) -> torch.Tensor:  # [B, P + A]
        return torch.cat([self.prompts, self.tokens], dim=1)


@torch.no_grad()
def generate(model: TinyGPT, prompts: torch.Tensor, max_new: int, *, generator=None, greedy=False,
             logit_fn=None, topk: int = 0) -> Rollout:
    """Decode ``max_new`` tokens after ``prompts`` [B, P] with a KV cache.

    logit_fn(logits [B, V] float32) → perturbed logits (the sampler's mismatch); greedy: argmax
    instead of sampling; topk > 0 also records top-K(μ) ∪ {sampled} for DPPO's Top-K divergence.
    """
    B = prompts.shape[0]
    logits, cache = model(prompts)
    last = logits[:, -1].float()
    done = torch.zeros(B, dtype=torch.bool, device=prompts.device)
    toks, lps, alive, ids_k, lps_k = [], [], [], [], []
    for t in range(max_new):
        if logit_fn is not None:
            last = logit_fn(last)
        logp = torch.log_softmax(last, dim=-1)  # [B, V]
        if greedy:
            tok = logp.argmax(-1)
        else:
            tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
        tok = torch.where(done, torch.full_like(tok, PAD), tok)
        toks.append(tok)
        alive.append(~done)
        lps.append(torch.where(done, torch.zeros_like(last[:, 0]), logp.gather(1, tok[:, None]).squeeze(1)))
        if topk:
            ids = logp.topk(topk, dim=-1).indices  # [B, K]
            has = (ids == tok[:, None]).any(-1, keepdim=True)
            ids = torch.cat([ids[:, :-1], torch.where(has, ids[:, -1:], tok[:, None])], dim=1)
            ids_k.append(ids)
            lps_k.append(logp.gather(1, ids))
        done = done | (tok == EOS)
        if bool(done.all()) or t == max_new - 1:
            break
        logits, cache = model(tok[:, None], cache)
        last = logits[:, -1].float()
    pad = max_new - len(toks)
    tokens = torch.nn.functional.pad(torch.stack(toks, 1), (0, pad), value=PAD)
    logp_mu = torch.nn.functional.pad(torch.stack(lps, 1), (0, pad))
    # valid = every position up to and including the first EOS (all positions if none)
    mask = torch.nn.functional.pad(torch.stack(alive, 1), (0, pad), value=False)
    out = Rollout(prompts, tokens, mask, logp_mu)
    if topk:
        ids = torch.stack(ids_k, 1)
        out.topk_ids = torch.nn.functional.pad(ids, (0, 0, 0, pad))
        out.topk_logp_mu = torch.nn.functional.pad(torch.stack(lps_k, 1), (0, 0, 0, pad), value=-30.0)
    return out


class Sampler:
    """The inference engine: a separate copy of the policy with the mismatch applied."""

    def __init__(self, cfg: ModelConfig, mismatch: MismatchSpec, *, device="cpu", seed: int = 0):
        self.mismatch = mismatch
        self.model = TinyGPT(cfg).to(device).eval()
        if mismatch.precision == "bf16":
            self.model.to(torch.bfloat16)
        self.noise_gen = torch.Generator(device=device).manual_seed(seed)

    def load(self, state_dict) -> None:
        """Copy policy weights in (cast to the sampler's dtype; fp8: rounded weight matrices)."""
        self.model.load_state_dict(state_dict)
        if self.mismatch.precision == "fp8":
            with torch.no_grad():
                for p in self.model.parameters():
                    if p.dim() >= 2:
                        p.copy_(fp8_round(p))

    def perturb(self, logits: torch.Tensor) -> torch.Tensor:  # [B, V] float32
        if self.mismatch.precision == "fp8logits":
            logits = fp8_round(logits, dim=-1)
        if self.mismatch.noise:
            eps = torch.randn(logits.shape, generator=self.noise_gen, device=logits.device)
            logits = perturb_logits(logits, self.mismatch.noise, self.mismatch.noise_pow, eps)
        return logits

    def sample(self, prompts, max_new, generator, topk=0) -> Rollout:
        perturb = self.perturb if (self.mismatch.noise or self.mismatch.precision == "fp8logits") else None
        return generate(self.model, prompts, max_new, generator=generator, logit_fn=perturb, topk=topk)
