"""DRPO's weight is continuous and Lipschitz in the shift Δ with constant exactly 1/δ.

``w = 1 − s Δ/δ`` contains no Piecewise, sign or Abs of π or μ (only the constant s of the
token), so it is a polynomial in (π, μ) for each s: continuous everywhere. At fixed (μ, s),
``∂w/∂Δ = −s/δ``, so ``|w(Δ₁) − w(Δ₂)| = |Δ₁ − Δ₂|/δ``: the Lipschitz constant is exactly 1/δ
(attained by every pair). Contrast: PPO's and DPPO's weights jump (claim ``clip_mask_weight_jumps``).
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_weight_lipschitz"
STATEMENT = ("DRPO's weight is continuous in (π, μ) and, at fixed μ and s, Lipschitz in Δ with "
             "constant exactly 1/δ (|w(Δ₁) − w(Δ₂)| = |Δ₁ − Δ₂|/δ).")
SOURCE = "DRPO (arXiv 2606.09821) abstract ('continuous'); explainer (docs/papers.md#the-explainer)"
METHOD = "symbolic"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("drpo")
    delta = p["delta"]
    if w.has(sp.Piecewise, sp.Abs, sp.sign, sp.Heaviside):
        return proving.failed("weight is not a plain rational expression", {"w": str(w)})
    d1, d2 = sp.symbols("Delta_1 Delta_2", real=True)
    out = {}
    for s in (1, -1):
        ws = w.subs(S.SIGN, s)
        if not (ws.is_polynomial(S.PI, S.MU)):
            return proving.failed("w is not polynomial in (π, μ)", {"s": s, "w": str(ws)})
        diff = sp.simplify(ws.subs(S.PI, S.MU + d1) - ws.subs(S.PI, S.MU + d2))
        if not proving.is_zero_exact(sp.Abs(diff) - sp.Abs(d1 - d2) / delta):
            return proving.failed("|Δw| ≠ |ΔΔ|/δ", {"s": s, "difference": str(diff)})
        out[f"s={s:+d}"] = {"dw/dDelta": str(sp.diff(ws.subs(S.PI, S.MU + d1), d1)), "w(D1)-w(D2)": str(diff)}
    return proving.proved({"summary": "w polynomial in (π, μ) for each s; w(Δ₁) − w(Δ₂) = −s(Δ₁ − Δ₂)/δ, "
                                      "Lipschitz constant exactly 1/δ (0.08 at δ = 12.5, 6.67 at δ = 0.15)",
                           **out})
