"""Tiny-transformer GRPO harness with a controlled training–inference mismatch.

``model`` (decoder-only transformer with KV-cache sampling), ``tasks`` (seeded tasks with a binary
verifiable reward), ``rollout`` (a separate sampler copy recording μ, with precision / noise /
staleness mismatch), ``trainer`` (warm start, GRPO loop, metrics JSONL), ``checkpoint`` (atomic
save, bitwise resume), ``bench`` (tokens/s as achieved-FLOP/s ratios). torch is imported here.
"""
