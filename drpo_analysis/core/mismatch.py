"""Training–inference mismatch specifications: one grammar and one parser for every tool.

A mismatch says how the inference engine μ that samples the tokens differs from the training
engine π at identical weights. It is written as parts joined by ``+``::

    none                      no mismatch (``fp32`` is a synonym)
    bf16                      a precision: the name of a rounding (see :data:`PRECISIONS`)
    noise=0.3                 a parameter: NAME=VALUE (``NAME:VALUE`` is read the same way)
    bf16+noise=0.3+stale=2    at most one precision, each parameter at most once

Each tool states which precisions and parameters it implements (a :class:`MismatchGrammar`);
a part it does not implement is an error that lists what it accepts. This module only parses and
prints specifications: applying one to logits (NumPy in ``sim``, torch in ``rl``) is the tool's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

#: Every precision a tool may implement: name → what the inference engine does.
PRECISIONS = {
    "bf16": "μ's logits (sim) or the sampler's weights and activations (rl) in bfloat16",
    "fp16": "μ's logits rounded to float16",
    "fp8_e4m3": "μ's logits rounded to float8 e4m3, per-row scale amax/448",
    "fp8_e5m2": "μ's logits rounded to float8 e5m2, per-row scale amax/57344",
    "fp8": "the sampler's weight matrices rounded to float8 e4m3, per-tensor scale amax/448",
    "fp8logits": "the sampler's logits rounded to float8 e4m3, per-row scale amax/448",
}
NO_MISMATCH = ("none", "fp32")


@dataclass(frozen=True)
class Parameter:
    """A ``NAME=VALUE`` part: its type, its admissible range and what it means."""

    name: str
    kind: type                # int or float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    def convert(self, text: str):
        try:
            v = self.kind(text)
        except ValueError:
            what = "an integer" if self.kind is int else "a number"
            raise ValueError(f"{self.name} value {text!r} is not {what}") from None
        if not (math.isfinite(v)
                and (self.low < v if self.low_open else self.low <= v)
                and (v < self.high if self.high_open else v <= self.high)):
            raise ValueError(f"{self.name} must lie in {self.range}, got {text!r}")
        return v

    @property
    def range(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


#: Every parameter a tool may implement.
PARAMETERS = {p.name: p for p in (
    Parameter("noise", float, 0.0, 100.0, high_open=True, doc="σ of Gaussian noise added to μ's logits"),
    Parameter("noise_pow", float, -2.0, 2.0,
              doc="with noise=σ, token j's logit noise is σ·max(p_j, 1e-6)^β (p: unperturbed μ): the "
                  "mismatch model fitted to a measured per-μ-bucket |π − μ|"),
    Parameter("temperature", float, 0.0, 100.0, low_open=True, doc="μ ∝ exp(z / τ)"),
    Parameter("stale", int, 0, 64, doc="the sampler holds the policy of k training iterations ago"),
    Parameter("top_k", int, 0, math.inf, high_open=True, doc="the sampler keeps μ's top-k tokens (0 = off)"),
    Parameter("top_p", float, 0.0, 1.0, low_open=True, doc="the sampler keeps μ's top-p nucleus (1 = off)"),
)}


@dataclass(frozen=True)
class MismatchSpec:
    """A parsed mismatch; the defaults mean "no mismatch"."""

    precision: str = "none"
    noise: float = 0.0
    noise_pow: float = 0.0
    temperature: float = 1.0
    stale: int = 0
    top_k: int = 0
    top_p: float = 1.0

    def __str__(self) -> str:
        """The canonical spelling (parses back to an equal spec)."""
        parts = [self.precision] if self.precision != "none" else []
        for f in fields(self)[1:]:
            v = getattr(self, f.name)
            if v != f.default:
                parts.append(f"{f.name}={_shortest(v)}")
        return "+".join(parts) or "none"

    @property
    def label(self) -> str:
        return str(self)


def _shortest(v) -> str:
    """The shortest text that reads back as exactly ``v`` (``1.0`` → ``1``, ``0.3`` → ``0.3``)."""
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class MismatchGrammar:
    """The precisions and parameters one tool implements."""

    precisions: tuple[str, ...]
    parameters: tuple[str, ...]

    def __post_init__(self):
        unknown = (set(self.precisions) - set(PRECISIONS)) | (set(self.parameters) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"undeclared mismatch parts {sorted(unknown)}: add them to core.mismatch")

    def accepted(self) -> str:
        """One line listing what this tool accepts."""
        params = ", ".join(f"{n}=V with V in {PARAMETERS[n].range}" for n in self.parameters)
        return (f"none | {' | '.join(self.precisions)} (at most one), {params} "
                "(each at most once), joined by '+'")

    def parse(self, text) -> MismatchSpec:
        """``"bf16+noise=0.3"`` → :class:`MismatchSpec`; any error raises ``ValueError`` naming
        the offending part and listing what is accepted."""
        if not isinstance(text, str):
            raise TypeError(f"mismatch must be a string such as 'bf16+noise=0.3', got {type(text).__name__}")
        try:
            return self._parse(text)
        except ValueError as exc:
            raise ValueError(f"mismatch {text!r}: {exc}; accepted: {self.accepted()}") from None

    def _parse(self, text: str) -> MismatchSpec:
        if not text.strip():
            raise ValueError("empty specification")
        kw: dict = {}
        for part in text.strip().split("+"):
            part = part.strip()
            if not part:
                raise ValueError("empty part between '+'")
            name, sep, value = part.replace(":", "=", 1).partition("=")
            if not sep:
                if name in NO_MISMATCH:
                    continue
                if name in PARAMETERS and name in self.parameters:
                    raise ValueError(f"{name} needs a value, e.g. {name}=1")
                if name not in self.precisions:
                    raise ValueError(f"unknown part {part!r}")
                if "precision" in kw:
                    raise ValueError(f"two precisions ({kw['precision']}, {name})")
                kw["precision"] = name
            else:
                if name not in self.parameters:
                    raise ValueError(f"unknown part {part!r}")
                if name in kw:
                    raise ValueError(f"{name} given twice")
                kw[name] = PARAMETERS[name].convert(value)
        return MismatchSpec(**kw)
