"""Prompts the project generates for the real model, with a verifiable reward per response.

Three kinds of short questions, drawn from a seed: two-number arithmetic, capitals, and reversing
a word. Reward 1 when the response contains the right answer, else 0 (GRPO-style group rewards).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
            "Egypt": "Cairo", "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo",
            "Greece": "Athens", "Poland": "Warsaw", "Portugal": "Lisbon", "Chile": "Santiago",
            "Austria": "Vienna", "Ireland": "Dublin"}
WORDS = ("apple", "river", "planet", "garden", "silver", "window", "rocket", "pencil", "dragon",
         "castle", "forest", "island", "candle", "mirror", "tiger", "violin")


@dataclass(frozen=True)
class Task:
    prompt: str
    answer: str

    def reward(self, response: str) -> float:
        """1.0 when the answer appears in the response as a whole word/number, else 0.0."""
        return float(re.search(rf"(?<![\w-]){re.escape(self.answer)}(?!\w)", response, re.IGNORECASE) is not None)


def make_tasks(n: int, seed: int = 0) -> list[Task]:
    """``n`` tasks drawn with ``numpy.random.default_rng(seed)`` (kinds in rotation)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            a, b = (int(x) for x in rng.integers(2, 99, size=2))
            op = "+" if rng.random() < 0.5 else "-"
            out.append(Task(f"What is {a} {op} {b}? Answer briefly.", str(a + b if op == "+" else a - b)))
        elif kind == 1:
            country = list(CAPITALS)[int(rng.integers(len(CAPITALS)))]
            out.append(Task(f"What is the capital of {country}?", CAPITALS[country]))
        else:
            word = WORDS[int(rng.integers(len(WORDS)))]
            out.append(Task(f"Write the word '{word}' backwards.", word[::-1]))
    return out
