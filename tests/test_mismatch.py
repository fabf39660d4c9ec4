"""One mismatch grammar for every tool (drpo_analysis.core.mismatch)."""
import pytest
from hypothesis import given, settings, strategies as st

from drpo_analysis.core.mismatch import PARAMETERS, PRECISIONS, MismatchGrammar, MismatchSpec
from drpo_analysis.rl.rollout import MISMATCH as RL
from drpo_analysis.sim.vocab import MISMATCH as SIM

EVERYTHING = MismatchGrammar(tuple(PRECISIONS), tuple(PARAMETERS))


def test_both_tools_read_the_same_text_the_same_way():
    text = "bf16+noise=0.3"
    assert RL.parse(text) == SIM.parse(text) == MismatchSpec("bf16", noise=0.3)
    # NAME:VALUE is read as NAME=VALUE by every tool; the canonical spelling uses '='
    assert RL.parse("noise:0.3") == SIM.parse("noise:0.3") == MismatchSpec(noise=0.3)
    assert str(SIM.parse("temperature:1.05+top_p:0.95")) == "temperature=1.05+top_p=0.95"
    assert str(MismatchSpec()) == "none" and RL.parse("none") == SIM.parse("none") == MismatchSpec()


@pytest.mark.parametrize("grammar, text, accepted", [
    (RL, "fp16", "none | bf16 | fp8 | fp8logits"),
    (SIM, "stale=2", "none | bf16 | fp16 | fp8_e4m3 | fp8_e5m2"),
])
def test_a_part_the_tool_does_not_implement_lists_what_it_accepts(grammar, text, accepted):
    with pytest.raises(ValueError, match=f"mismatch {text!r}: unknown part {text!r}; accepted: {accepted}"):
        grammar.parse(text)


@pytest.mark.parametrize("text", ["", "+", "bf16+", "noise", "noise=nan", "noise=inf", "noise=1e400",
                                  "stale=1.5", "top_k=-1", "top_p=0", "bf16+bf16", "noise=1+noise=1"])
def test_malformed_specs_raise_value_error(text):
    with pytest.raises(ValueError, match="accepted: none"):
        EVERYTHING.parse(text)


def test_a_grammar_cannot_declare_parts_core_does_not_know():
    with pytest.raises(ValueError, match="undeclared"):
        MismatchGrammar(("bf17",), ())


def _specs():
    return st.builds(
        MismatchSpec, precision=st.sampled_from(("none", *PRECISIONS)),
        noise=st.floats(0, 99.9), temperature=st.floats(0.01, 100), stale=st.integers(0, 64),
        top_k=st.integers(0, 10**6), top_p=st.floats(0.01, 1.0))


@settings(max_examples=200, deadline=None)
@given(_specs())
def test_canonical_spelling_parses_back_to_the_same_spec(spec):
    assert EVERYTHING.parse(str(spec)) == spec
