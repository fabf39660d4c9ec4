"""Tasks with a binary verifiable reward, generated from a seed (no downloads).

Shared vocabulary: digits 0–9, ``+``, ``=``, ``EOS``, ``PAD``, ``SORT``. Every task has a fixed
prompt length (so prompts batch without padding) and a maximum answer length including ``EOS``;
answers may be shorter (``sort``), so responses are right-padded and masked.

* ``add``: fixed-width n-digit addition ``a+b=`` → the n+1 sum digits, least significant first
  (the order a left-to-right model can compute with carries), then ``EOS``.
* ``sort``: ``SORT d1 … dk =`` → the *distinct* digits in increasing order, then ``EOS``: the
  answer length varies from 1 to k digits.

Reward 1 iff the response up to and including the first ``EOS`` equals the answer exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLUS, EQ, EOS, PAD, SORT = 10, 11, 12, 13, 14
VOCAB_SIZE = 16  # 15 used, one spare
_NAMES = {PLUS: "+", EQ: "=", EOS: "$", PAD: "_", SORT: "S"}


def detok(tokens) -> str:
    """Readable string of a token sequence (``$`` = EOS, ``_`` = PAD, ``S`` = SORT)."""
    return "".join(_NAMES.get(int(t), str(int(t))) for t in tokens)


@dataclass(frozen=True)
class Task:
    name: str
    size: int  # digits per operand (add) or list length (sort)

    def validate(self) -> "Task":
        if self.name not in TASKS:
            raise ValueError(f"unknown task {self.name!r}; expected one of {sorted(TASKS)}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 1 <= self.size <= 12:
            raise ValueError(f"task size must be an integer in [1, 12], got {self.size!r}")
        return self

    @property
    def prompt_len(self) -> int:
        return 2 * self.size + 2 if self.name == "add" else self.size + 2

    @property
    def answer_len(self) -> int:
        """Maximum response length including EOS."""
        return self.size + 2 if self.name == "add" else self.size + 1

    def sample(self, rng: np.random.Generator, n: int):
        """n prompts [n, P] and their answers [n, A] (right-padded with PAD), int64."""
        return TASKS[self.name](self.size, rng, n)

    def reward(self, answers: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """1.0 where the response [n, A] (PAD after EOS) equals the answer [n, A] exactly, [n]."""
        if answers.shape != responses.shape:
            raise ValueError(f"answers {list(answers.shape)} and responses {list(responses.shape)} differ in shape")
        return (answers == responses).all(axis=1).astype(np.float64)


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


def get(name: str, size: int | None = None) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return Task(name, DEFAULT_SIZE[name] if size is None else size).validate()
