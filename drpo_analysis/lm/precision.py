"""Inference precisions: the weights (and the arithmetic) an inference engine would use.

* ``fp32``: the training configuration itself (no mismatch from precision);
* ``bf16`` / ``fp16``: every parameter cast, all arithmetic in that type (as vLLM/SGLang serve a
  model with ``dtype=bfloat16``/``float16``);
* ``fp8-e4m3``: weight-only FP8 of every linear layer of the decoder blocks — each output row
  scaled by ``amax/448`` (448 = largest finite e4m3), rounded to ``float8_e4m3fn`` and dequantised
  — while the embedding/LM head and the arithmetic stay bf16 (the "W8A16" layout of FP8 serving).

Logits of every precision are cast to fp32 before the softmax, as inference engines do.
"""
from __future__ import annotations

import copy

PRECISIONS = ("fp32", "bf16", "fp16", "fp8-e4m3")
FP8_E4M3_MAX = 448.0


def compute_dtype(precision: str):
    import torch
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
            "fp8-e4m3": torch.bfloat16}[_check(precision)]


def _check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return precision


def fp8_e4m3_roundtrip(weight):
    """Per-output-row FP8 e4m3 quantise → dequantise of a [out, in] weight (returned in its dtype)."""
    import torch
    w = weight.float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_E4M3_MAX   # [out, 1]
    q = (w / scale).to(torch.float8_e4m3fn)
    return (q.float() * scale).to(weight.dtype)


def inference_model(model, precision: str):
    """A copy of the fp32 ``model`` in the inference ``precision`` (the original is untouched)."""
    import torch
    dtype = compute_dtype(precision)
    if precision == "fp32":
        return model
    out = copy.deepcopy(model).to(dtype)
    if precision == "fp8-e4m3":
        with torch.no_grad():
            for layer in out.model.layers:
                for module in layer.modules():
                    if isinstance(module, torch.nn.Linear):
                        module.weight.copy_(fp8_e4m3_roundtrip(module.weight))
    out.eval()
    return out
