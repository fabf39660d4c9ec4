"""Tasks with a binary verifiable reward, generated from a seed (no downloads).

Shared vocabulary: digits 0–9, ``+``, ``=``, ``EOS``, ``PAD``, ``SORT``. Every task has a fixed
prompt length (so prompts batch without padding) and a maximum answer length including ``EOS``;
answers may be shorter (``sort``), so responses are right-padded and masked.

* ``add``: fixed-width n-digit addition ``a+b=`` → the n+1 sum digits, least significant first
  (the order a left-to-right model can compute with carries), then ``EOS``.
* ``sort``: ``SORT d1 … dk =`` → the *distinct* digits in increasing order, then ``EOS``: the
  answer length varies from 1 to k digits.

Reward 1 iff the response up to and including the first ``EOS`` equals the answer exactly.

**Free-form tokens (the long tail).** A real LLM's response is mostly free text: at many positions
hundreds of tokens are plausible, so a sizeable share of *sampled* tokens has a small behaviour
probability μ (DPPO, arXiv 2602.04879, reports about 8% with μ ≤ 0.01). A 16-token arithmetic
vocabulary has no such tail. With ``free > 0`` every response starts with ``free`` word tokens
drawn (in the warm-start data) from a Zipf law ``p(w_i) ∝ i^(−s)`` over the ``vocab_size − 16``
word tokens (ids 16 …), then the answer. The reward ignores *which* words were written (any word
token counts) and checks the answer exactly, as a verifier checks only the final answer. The warm
start learns the Zipf law, so the sampled-token μ distribution gets a tail whose mass is set by
``free`` and ``s`` (:func:`tail_shares`, fitted to a measured model by
:func:`drpo_analysis.rl.mismatch_fit.fit_tail`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLUS, EQ, EOS, PAD, SORT = 10, 11, 12, 13, 14
VOCAB_SIZE = 16  # control tokens: 15 used, one spare; word tokens (free-form text) follow
FIRST_WORD = VOCAB_SIZE
_NAMES = {PLUS: "+", EQ: "=", EOS: "$", PAD: "_", SORT: "S"}


def detok(tokens) -> str:
    """Readable string of a token sequence (``$`` = EOS, ``_`` = PAD, ``S`` = SORT)."""
    return "".join(_NAMES.get(int(t), str(int(t)) if int(t) < FIRST_WORD else "w") for t in tokens)


def zipf_probs(n_words: int, s: float) -> np.ndarray:
    """Zipf law over ``n_words`` ranks: ``p_i ∝ i^(−s)``, i = 1 … n_words, [n_words]."""
    p = np.arange(1, n_words + 1, dtype=np.float64) ** -s
    return p / p.sum()


def tail_shares(n_words: int, s: float, thresholds=(0.01, 0.1)) -> list[float]:
    """Share of tokens *sampled* from the Zipf law whose probability is ≤ each threshold
    (``Σ_{p_i ≤ t} p_i``): the tail of one free-form position."""
    p = zipf_probs(n_words, s)
    return [float(p[p <= t].sum()) for t in thresholds]


@dataclass(frozen=True)
class Task:
    name: str
    size: int  # digits per operand (add) or list length (sort)
    free: int = 0  # free-form word tokens before the answer
    vocab_size: int = VOCAB_SIZE  # control tokens + word tokens
    zipf_s: float = 1.0  # exponent of the words' Zipf law

    @property
    def n_words(self) -> int:
        return self.vocab_size - FIRST_WORD

    def validate(self) -> "Task":
        if self.name not in TASKS:
            raise ValueError(f"unknown task {self.name!r}; expected one of {sorted(TASKS)}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 1 <= self.size <= 12:
            raise ValueError(f"task size must be an integer in [1, 12], got {self.size!r}")
        if not isinstance(self.free, int) or isinstance(self.free, bool) or not 0 <= self.free <= 64:
            raise ValueError(f"free must be an integer in [0, 64], got {self.free!r}")
        if self.free and self.n_words < 2:
            raise ValueError(f"free-form tokens need word tokens: vocab_size must be > {FIRST_WORD + 1}, "
                             f"got {self.vocab_size}")
        if isinstance(self.zipf_s, bool) or not isinstance(self.zipf_s, (int, float)) or not 0 < self.zipf_s <= 5:
            raise ValueError(f"zipf_s must be a number in (0, 5], got {self.zipf_s!r}")
        return self

    @property
    def prompt_len(self) -> int:
        return 2 * self.size + 2 if self.name == "add" else self.size + 2

    @property
    def answer_len(self) -> int:
        """Maximum response length including the free-form tokens and EOS."""
        return self.free + (self.size + 2 if self.name == "add" else self.size + 1)

    def sample(self, rng: np.random.Generator, n: int):
        """n prompts [n, P] and reference responses [n, A] (free-form words, the answer, right-padded
        with PAD), int64. The words are one draw of the Zipf law: any other words are as correct."""
        prompts, answers = TASKS[self.name](self.size, rng, n)
        if self.free:
            ranks = rng.choice(self.n_words, size=(n, self.free), p=zipf_probs(self.n_words, self.zipf_s))
            answers = np.concatenate([FIRST_WORD + ranks, answers], axis=1)
        return prompts, answers

    def reward(self, answers: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """1.0 where the response [n, A] (PAD after EOS) has word tokens in the ``free`` positions and
        equals the reference after them exactly, [n]."""
        if answers.shape != responses.shape:
            raise ValueError(f"answers {list(answers.shape)} and responses {list(responses.shape)} differ in shape")
        f = self.free
        words_ok = (responses[:, :f] >= FIRST_WORD).all(axis=1)
        return (words_ok & (answers[:, f:] == responses[:, f:]).all(axis=1)).astype(np.float64)


def _addition(n_digits, rng, n):
    a = rng.integers(0, 10, size=(n, n_digits))
    b = rng.integers(0, 10, size=(n, n_digits))
    prompts = np.concatenate([a, np.full((n, 1), PLUS), b, np.full((n, 1), EQ)], axis=1)
    ra, rb = a[:, ::-1], b[:, ::-1]  # least significant first
    out = np.zeros((n, n_digits + 1), dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)
    for i in range(n_digits):
        s = ra[:, i] + rb[:, i] + carry
        out[:, i], carry = s % 10, s // 10
    out[:, n_digits] = carry
    answers = np.concatenate([out, np.full((n, 1), EOS)], axis=1)
    return prompts.astype(np.int64), answers


def _sort_unique(k, rng, n):
    digits = rng.integers(0, 10, size=(n, k))
    prompts = np.concatenate([np.full((n, 1), SORT), digits, np.full((n, 1), EQ)], axis=1)
    answers = np.full((n, k + 1), PAD, dtype=np.int64)
    for i in range(n):
        u = np.unique(digits[i])
        answers[i, :len(u)] = u
        answers[i, len(u)] = EOS
    return prompts.astype(np.int64), answers


TASKS = {"add": _addition, "sort": _sort_unique}
DEFAULT_SIZE = {"add": 2, "sort": 6}


def get(name: str, size: int | None = None, *, free: int = 0, vocab_size: int = VOCAB_SIZE,
        zipf_s: float = 1.0) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return Task(name, DEFAULT_SIZE[name] if size is None else size, free, vocab_size, zipf_s).validate()
