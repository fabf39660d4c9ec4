"""A fuzz target (any loss implementation behind an adapter) and calling it safely.

The canonical signature that every adapter reduces an implementation to::

    loss = fn(logp, logp_mu, adv, mask, **params) -> scalar torch.Tensor   (or a tuple (loss, metrics, ...))

* ``logp``     [B, T] log π of the sampled tokens (the only tensor that requires grad),
* ``logp_mu``  [B, T] log μ of the behaviour / rollout / old policy,
* ``adv``      [B, T] advantages Â (per sequence: constant along a row),
* ``mask``     [B, T] bool, False = padding,
* ``params``   the method's parameters by our registry's names (e.g. ``delta=0.2``);
* optional keywords the fuzzer passes only if ``fn`` accepts them: ``num_tokens`` / ``num_seqs``
  (global counts of the whole optimiser step, for micro-batch and data-parallel splits),
  ``group_ids`` ([B] prompt group of every row, for prompt-mean; named explicitly, not via
  ``**kwargs``) and the method's extra inputs (Top-K sets ``topk_logp_mu``, ``topk_logp`` [B, T, K]).

A call runs in a worker thread with a timeout; whatever the implementation does (raise, hang,
return NaN, a vector, a tensor without gradient) becomes an :class:`Outcome` with an ``error``
kind, never an exception in the fuzzer.
"""
from __future__ import annotations

import inspect
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from drpo_analysis.core import aggregation
from drpo_analysis.fuzz.oracle import Conventions
from drpo_analysis.fuzz.strategies import Batch

#: lower / upper bound pairs of our parameters that a symmetric clip sets equal (PPO's ε, DPPO's δ)
BOUND_PAIRS = (("eps_low", "eps_high"), ("delta_low", "delta_high"))


@dataclass(frozen=True)
class BoundFields:
    """A lower / upper bound pair of our parameters (e.g. ``eps_low`` / ``eps_high``) that a
    framework's configuration carries in separate fields, and the field that older code reads for
    both (the legacy symmetric one, filled with the lower bound: TRL's ``epsilon`` *is* the lower
    bound, and verl / OpenRLHF fall back to theirs only when the separate fields are unset)."""

    low: str            # our parameter names
    high: str
    low_field: str      # the framework's names, as a finding quotes them
    high_field: str
    symmetric_field: str


def call_signature(fn) -> inspect.Signature:
    """The parameters a call of ``fn`` takes: for a torch module, its ``forward``'s (``Module.__call__``
    is a generic ``*args, **kwargs`` wrapper, which would claim every keyword)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(fn, torch.nn.Module):
        fn = fn.forward
    return inspect.signature(fn)


@dataclass
class Target:
    """An implementation under test, reduced to the canonical signature."""

    name: str
    fn: Callable[..., Any]
    method: str
    params: dict = field(default_factory=dict)          # our registry's parameter names
    conventions: Conventions = field(default_factory=Conventions)
    call_params: dict | None = None                     # keywords passed to fn (default: params)
    reproducer: str = ""                                # Python lines that define `target`
    timeout: float = 20.0
    notes: tuple[str, ...] = ()                         # design choices, for reports
    equal_splits: bool = False                          # assumes equal-size micro-batches / ranks (TRL)
    variant: Callable[..., "Target"] | None = None      # variant(params=..., agg=...): the same code
                                                        # configured otherwise (sweeps); None: fixed
    agg_modes: tuple[str, ...] = ()                     # aggregation modes the target can be told
    agg_declared: bool = False                          # the user declared the aggregation (option agg):
                                                        # a target that ignores other modes is not faulted
    adv_per_sequence: bool = False                      # takes one advantage per sequence (TRL's shape)
    keep_ties: bool = False                             # sweeps keep equal parameters equal (a framework
                                                        # config may hold one field for both, e.g. clip_ratio)
    split_ties: tuple["BoundFields", ...] = ()          # ...except these pairs, which its configuration
                                                        # carries in separate fields: drawn apart once
    symmetric_clip: bool = False                        # declared: supports equal lower / upper bounds only
    fixed: frozenset = frozenset()                      # parameters the target cannot be told (no field for
                                                        # them in its framework): held at their value in sweeps

    @property
    def named(self) -> set[str]:
        """Parameter names ``fn`` declares explicitly."""
        try:
            return set(call_signature(self.fn).parameters)
        except (TypeError, ValueError):
            return set()

    @property
    def accepts(self) -> set[str]:
        """Keywords the fuzzer may pass (a ``**kwargs`` target takes counts and extras too)."""
        try:
            sig = call_signature(self.fn)
        except (TypeError, ValueError):
            return set()
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return self.named | {"num_tokens", "num_seqs", "topk_logp_mu", "topk_logp", "*"}
        return self.named

    @property
    def declared(self) -> dict:
        """The design choices declared for the reference (conventions other than the defaults,
        aggregation aside)."""
        default = Conventions()
        out = {k: v for k, v in vars(self.conventions).items()
               if k not in ("agg", "horizon") and v != getattr(default, k)}
        if self.symmetric_clip:
            out["symmetric_clip"] = True
        return out

    @property
    def passed_note(self) -> str:
        """For a ``**kwargs`` target: what it is passed beyond its named parameters."""
        extra = sorted(self.accepts - self.named - {"*"})
        if "*" not in self.accepts or not extra:
            return ""
        return (f"{self.name} takes **kwargs, so it is passed {', '.join(extra)} (global counts of the whole "
                f"optimiser step on micro-batch / data-parallel splits: a token-mean must divide by num_tokens, "
                f"a seq-mean by num_seqs)")

    @property
    def missing_global_counts(self) -> set[str]:
        """The global counts the declared aggregation needs on splits that the target does not take."""
        return set(aggregation.global_counts(self.conventions.agg)) - self.accepts

    @property
    def takes_global_counts(self) -> bool:
        """Splits can be checked: the target takes a global count (``num_tokens`` or ``num_seqs``;
        it is passed those it takes) and every one its aggregation mode needs."""
        return bool({"num_tokens", "num_seqs"} & self.accepts) and not self.missing_global_counts


@dataclass
class Outcome:
    """What one call returned: the scalar loss and ∂loss/∂ℓ [B, T], or an error kind."""

    loss: float | None = None
    grad: np.ndarray | None = None
    error: str | None = None        # raises, timeout, non-scalar, no-gradient, non-finite, not-a-tensor,
                                    # mutates-inputs
    message: str = ""


def torch_dtype(name: str):
    import torch
    return getattr(torch, name)


def round_to(batch: Batch, dtype: str) -> Batch:
    """The batch with ℓ, ℓ_μ, Â rounded to ``dtype`` (the reference then sees the same values)."""
    import torch

    def r(a):
        with np.errstate(invalid="ignore"):
            return torch.as_tensor(np.ascontiguousarray(a)).to(torch_dtype(dtype)).double().numpy()
    extras = {k: r(v) for k, v in batch.extras.items()}
    return batch.replace(logp=r(batch.logp), logp_mu=r(batch.logp_mu), adv=r(batch.adv), extras=extras)


def call(target: Target, batch: Batch, dtype: str = "float32", *, num_tokens=None, num_seqs=None,
         dp_size=None, on_policy: bool = False, grad_inputs: bool = False) -> Outcome:
    """Run ``target`` on ``batch`` and backpropagate; never raises.

    num_tokens, num_seqs: global counts (passed only if the target accepts them); dp_size: the
    number of data-parallel ranks (adapters of frameworks that scale by it return the rank's
    contribution, i.e. their loss divided by dp_size, as DDP averages gradients over ranks).
    on_policy: pass ``logp_mu = logp.detach()`` (the same values, no graph).
    grad_inputs: ``logp_mu`` and ``adv`` are leaves that require grad too (stop-gradient probe).
    """
    import torch

    dt = torch_dtype(dtype)
    logp = torch.tensor(batch.logp, dtype=dt, requires_grad=True)
    logp_mu = logp.detach() if on_policy else torch.tensor(batch.logp_mu, dtype=dt, requires_grad=grad_inputs)
    adv = torch.tensor(batch.adv, dtype=dt, requires_grad=grad_inputs)
    mask = torch.tensor(batch.mask, dtype=torch.bool)
    kwargs = dict(target.params if target.call_params is None else target.call_params)
    acc = target.accepts
    if num_tokens is not None and "num_tokens" in acc:
        kwargs["num_tokens"] = num_tokens
    if num_seqs is not None and "num_seqs" in acc:
        kwargs["num_seqs"] = num_seqs
    if dp_size is not None and "dp_size" in acc:
        kwargs["dp_size"] = dp_size
    if "group_ids" in target.named:
        kwargs["group_ids"] = torch.as_tensor(batch.group_ids)
    for k, v in batch.extras.items():
        kwargs[k] = torch.tensor(v, dtype=dt)

    box: dict[str, Any] = {}

    def work():
        try:
            with torch.enable_grad():
                loss = target.fn(logp, logp_mu, adv, mask, **kwargs)
                if isinstance(loss, (tuple, list)) and loss and isinstance(loss[0], torch.Tensor):
                    loss = loss[0]      # (loss, metrics, ...), as most trainers' loss functions return
                box["loss"] = loss
                if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.requires_grad:
                    loss.reshape(()).backward()
        except BaseException as exc:  # noqa: BLE001 - any failure of the target is a finding
            box["exc"] = exc
            box["tb"] = traceback.format_exception_only(type(exc), exc)[-1].strip()

    before = [t.detach().clone() for t in (logp, logp_mu, adv, mask)]
    th = threading.Thread(target=work, daemon=True, name=f"fuzz-{target.name}")
    th.start()
    th.join(target.timeout)
    if th.is_alive():
        return Outcome(error="timeout", message=f"no result after {target.timeout:g} s")
    if "exc" in box:
        return Outcome(error="raises", message=box["tb"])
    for name, t, b in zip(("logp", "logp_mu", "adv", "mask"), (logp, logp_mu, adv, mask), before):
        t = t.detach()
        if not (torch.equal(t, b) if t.dtype == torch.bool else torch.equal(t.nan_to_num(), b.nan_to_num())):
            return Outcome(error="mutates-inputs", message=f"the target changed its input {name} in place")
    loss = box.get("loss")
    if not isinstance(loss, torch.Tensor):
        return Outcome(error="not-a-tensor", message=f"returned {type(loss).__name__}, expected a scalar tensor")
    if loss.numel() != 1 or loss.dim() > 1:
        return Outcome(error="non-scalar", message=f"returned shape {list(loss.shape)}, expected a scalar")
    value = float(loss.detach().double().reshape(()))
    if not loss.requires_grad or logp.grad is None:
        return Outcome(loss=value, error="no-gradient", message="the loss does not depend on logp (no grad_fn)")
    grad = logp.grad.double().numpy()
    if not np.isfinite(value) or not np.isfinite(grad).all():
        return Outcome(loss=value, grad=grad, error="non-finite",
                       message=f"loss = {value!r}, {int((~np.isfinite(grad)).sum())} non-finite gradient entries")
    return Outcome(loss=value, grad=grad)
