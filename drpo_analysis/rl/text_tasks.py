"""Text tasks with an exact-match verifiable reward for language-model GRPO, generated from a seed,
and the tokenizer interface the Hugging Face model path needs.

Prompts are few-shot completions (no chat template, so a base or an instruct model and a toy
character tokenizer all read them the same way): ``shots`` solved examples, one per line, then
the question. The response is read up to the first line break or end-of-sequence token; the
reward is 1 iff that text, stripped of surrounding spaces, equals the answer exactly.

* ``add``: ``"37+45="`` → ``"82"`` (operands of ``size`` digits);
* ``copy``: ``"copy abcd:"`` → ``"abcd"`` (``size`` lowercase letters);
* ``reverse``: ``"reverse abcd:"`` → ``"dcba"``.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

LETTERS = string.ascii_lowercase[:8]  # a small alphabet keeps the toy tokenizer small


def _add(rng, size):
    a, b = (int(rng.integers(10 ** (size - 1) if size > 1 else 0, 10 ** size)) for _ in range(2))
    return f"{a}+{b}=", str(a + b)


def _word(rng, size):
    return "".join(rng.choice(list(LETTERS), size=size))


def _copy(rng, size):
    w = _word(rng, size)
    return f"copy {w}:", w


def _reverse(rng, size):
    w = _word(rng, size)
    return f"reverse {w}:", w[::-1]


GENERATORS = {"add": _add, "copy": _copy, "reverse": _reverse}


@dataclass(frozen=True)
class TextTask:
    name: str = "add"
    size: int = 2
    shots: int = 3

    def validate(self) -> "TextTask":
        if self.name not in GENERATORS:
            raise ValueError(f"unknown text task {self.name!r}; expected one of {sorted(GENERATORS)}")
        for k, lo, hi in (("size", 1, 12), ("shots", 0, 16)):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"text task {k} must be an integer in [{lo}, {hi}], got {v!r}")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
        """n few-shot prompts and their answers."""
        gen = GENERATORS[self.name]
        prompts, answers = [], []
        for _ in range(n):
            shots = "".join(q + a + "\n" for q, a in (gen(rng, self.size) for _ in range(self.shots)))
            q, a = gen(rng, self.size)
            prompts.append(shots + q)
            answers.append(a)
        return prompts, answers

    @property
    def max_answer_chars(self) -> int:
        return self.size + 1 if self.name == "add" else self.size

    @staticmethod
    def reward(answers: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """1.0 where the response's first line, stripped, equals the answer, [n]."""
        return np.array([float(r.split("\n", 1)[0].strip() == a) for a, r in zip(answers, responses)])


class Tokenizer(Protocol):
    """What the GRPO loop needs of a tokenizer (see :class:`CharTokenizer`, :class:`HFTokenizer`)."""

    pad_id: int
    stop_ids: tuple[int, ...]  # end-of-sequence and every token whose text holds a line break

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...


class CharTokenizer:
    """One token per character of the task alphabet, plus PAD and EOS (for tiny test models)."""

    CHARS = string.digits + LETTERS + "+=: \n" + "copyrevs"

    def __init__(self):
        chars = list(dict.fromkeys(self.CHARS))
        self.vocab = {c: i for i, c in enumerate(chars)}
        self.inv = dict(enumerate(chars))
        self.pad_id, self.eos_id = len(chars), len(chars) + 1
        self.stop_ids = (self.eos_id, self.vocab["\n"])
        self.vocab_size = len(chars) + 2

    def encode(self, text: str) -> list[int]:
        try:
            return [self.vocab[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the toy vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.inv.get(int(i), "") for i in ids)


class HFTokenizer:
    """A ``transformers`` tokenizer seen through :class:`Tokenizer` (no special tokens added)."""

    def __init__(self, tok):
        self.tok = tok
        eos = tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos
        breaks = [i for t, i in tok.get_vocab().items() if "\n" in tok.convert_tokens_to_string([t])]
        self.stop_ids = tuple(sorted({eos, *breaks}))

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)
