"""Method specs: a registry method with parameter overrides, as written on command lines.

``"drpo"``, ``"drpo:delta=0.2"``, ``"dppo_binary_tv:delta_low=0.05,delta_high=0.05"``; Top-K
methods also take ``K``, the size of the top-K(μ) set (``"dppo_topk_tv:K=50"``).
"""
from __future__ import annotations

from dataclasses import dataclass

from drpo_analysis.core import methods

TOPK = 20  # K of the Top-K DPPO masks (DPPO §4.2); a spec may override it: "dppo_topk_kl:K=50"


@dataclass(frozen=True)
class MethodSpec:
    """A registry method with parameter overrides: ``"drpo"``, ``"drpo:delta=0.2"``,
    ``"dppo_binary_tv:delta_low=0.05,delta_high=0.05"``; Top-K methods also take ``K``, the size
    of the top-K(μ) set (``"dppo_topk_tv:K=50"``, default :data:`TOPK`)."""

    label: str
    name: str
    params: tuple[tuple[str, float], ...] = ()
    k: int | None = None   # K of top-K(μ), Top-K methods only

    @classmethod
    def parse(cls, spec: str) -> "MethodSpec":
        if not isinstance(spec, str) or not spec:
            raise TypeError(f"method must be a string like 'drpo' or 'drpo:delta=0.2', got {spec!r}")
        name, _, rest = spec.partition(":")
        m = methods.get(name)
        topk = "topk_logp" in m.batch_fields
        k = TOPK if topk else None
        kv = {}
        for item in filter(None, rest.split(",")):
            key, eq, v = item.partition("=")
            if not eq:
                raise ValueError(f"method {spec!r}: parameter {item!r} must be written key=value")
            if key == "K" and topk:
                if not v.isdigit() or int(v) < 1:
                    raise ValueError(f"method {spec!r}: K must be an integer >= 1, got {v!r}")
                k = int(v)
                continue
            try:
                kv[key] = float(v)
            except ValueError:
                raise ValueError(f"method {spec!r}: value {v!r} of {key!r} is not a number") from None
        resolved = m.resolve_params(kv)   # validates names and ranges
        return cls(spec, name, tuple(sorted((n, resolved[n]) for n in kv)), k)
