"""PG-IS plus a sampled divergence penalty (DRPO's Fig. 5 alternatives) and verl's DRO.

The DRPO paper does not state the exact forms of its KL / TV / K3 alternatives. We keep DRPO's
structure (``r Â`` minus an ``|Â|``-weighted per-sample divergence estimate under μ) and use the
standard f-divergence generators, each an unbiased one-sample estimate under ``a ~ μ``:

* KL:  ``f(r) = r log r − r + 1``   → ``E_μ f(r) = KL(π‖μ)``,   ``w = 1 − s β log r``
* TV:  ``f(r) = ½ |r − 1|``         → ``E_μ f(r) = TV(μ, π)``,  ``w = 1 − s β sign(r − 1)/2``
* K3:  ``f(r) = (r − 1) − log r``   → ``E_μ f(r) = KL(μ‖π)`` (Schulman's k3), ``w = 1 − s β (1 − 1/r)``
"""
from __future__ import annotations

from drpo_analysis.core.methods.base import Method, Param


def _penalised(f):
    def objective(x, p):
        return x.r * x.adv - p.beta * x.abs_adv * f(x)
    objective.__name__ = f.__name__
    objective.__doc__ = f"PG-IS minus β |Â| {f.__doc__} (DRPO Fig. 5 alternative; form chosen here)."
    return objective


def kl_generator(x):
    """(r log r − r + 1)"""
    return x.r * x.log_ratio - x.ops.expm1(x.log_ratio)


def tv_generator(x):
    """½|r − 1|"""
    return x.ops.abs(x.ops.expm1(x.log_ratio)) / 2


def k3_generator(x):
    """((r − 1) − log r)"""
    return x.ops.expm1(x.log_ratio) - x.log_ratio


def dro(x, p):
    """DRO / Kimi-style (verl ``dro``): ``J = Â ℓ − ½ β (ℓ − ℓ_μ)²``; ``w = (Â − β log r)/(Â r)``."""
    return x.adv * x.ell - p.beta * (x.ell - x.ell_mu) ** 2 / 2


BETA = Param("beta", 0.1, "penalty coefficient β (not stated in the DRPO paper)", low=0.0,
             low_open=False, symbol="beta",
             source="our choice: DRPO (arXiv 2606.09821) Fig. 5 gives neither form nor coefficient")

METHODS = (
    Method("pg_kl", "sampled_penalty", "PG-IS + sampled KL(π‖μ) penalty",
           "DRPO (arXiv 2606.09821) Fig. 5 alternative; form chosen here", _penalised(kl_generator),
           params=(BETA,)),
    Method("pg_tv", "sampled_penalty", "PG-IS + sampled TV penalty",
           "DRPO (arXiv 2606.09821) Fig. 5 alternative; form chosen here", _penalised(tv_generator),
           params=(BETA,)),
    Method("pg_k3", "sampled_penalty", "PG-IS + sampled K3 (KL(μ‖π)) penalty",
           "DRPO (arXiv 2606.09821) Fig. 5 alternative; k3 of Schulman (2020)",
           _penalised(k3_generator), params=(BETA,)),
    Method("dro", "sampled_penalty", "DRO (Kimi k1.5 style squared log-ratio)",
           "Kimi k1.5 (2025) eq. 3; verl 'dro'", dro,
           params=(Param("beta", 0.1, "squared log-ratio coefficient β (verl dro: tau)", low=0.0,
                         symbol="beta", source="our choice: Kimi k1.5 (arXiv 2501.12599) eq. 3 tunes τ"),)),
)
