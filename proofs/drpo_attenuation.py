"""DRPO attenuates diverging updates, zeroes them at the boundary, corrects beyond it, and
amplifies converging ones.

With ``x = s Δ`` (x > 0: the update moves π further from μ in the direction Â pushes it) the
weight is ``w = 1 − x/δ``. Proved with SymPy's assumption system on x and δ > 0.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "drpo_attenuation"
STATEMENT = ("DRPO: for sΔ > 0 (diverging) w < 1, with 0 < w < 1 for 0 < sΔ < δ, w = 0 at sΔ = δ and "
             "w < 0 (corrective) for sΔ > δ; for sΔ < 0 (converging) w > 1 (amplified).")
SOURCE = "DRPO (arXiv 2606.09821) abstract; docs/papers.md#drpo"
METHOD = "symbolic (assumption-based sign reasoning)"


def check() -> proving.ProofResult:
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    w, p = proving.weight_of("drpo")
    delta = sp.Symbol("delta", positive=True)
    x = sp.Symbol("x", real=True)  # x = s Δ
    # w as a function of x: substitute π = μ + s x with s² = 1
    wx = sp.simplify(w.subs(p["delta"], delta).subs(S.PI, S.MU + S.SIGN * x).expand().subs(S.SIGN ** 2, 1))
    if not proving.is_zero_exact(wx - (1 - x / delta)):
        return proving.failed("w(sΔ = x) ≠ 1 − x/δ", {"w_of_x": str(wx)})
    u = sp.Symbol("u", positive=True)  # a positive magnitude
    cases = {
        "diverging sΔ = u > 0: w − 1 < 0": sp.simplify((wx - 1).subs(x, u)).is_negative,
        "inside 0 < sΔ = δ/(1+u) < δ: w > 0": sp.simplify(wx.subs(x, delta / (1 + u))).is_positive,
        "inside: w < 1": sp.simplify(wx.subs(x, delta / (1 + u)) - 1).is_negative,
        "boundary sΔ = δ: w = 0": sp.simplify(wx.subs(x, delta)) == 0,
        "beyond sΔ = δ + u: w < 0": sp.simplify(wx.subs(x, delta + u)).is_negative,
        "converging sΔ = −u: w > 1": sp.simplify(wx.subs(x, -u) - 1).is_positive,
    }
    bad = [k for k, v in cases.items() if v is not True]
    if bad:
        return proving.failed(f"not established: {bad}", {"case": bad[0], "w_of_x": str(wx)})
    return proving.proved({"summary": "w = 1 − sΔ/δ: attenuated (0<w<1) inside, 0 at the boundary, "
                                      "corrective beyond, amplified (w>1) when converging",
                           "cases": {k: True for k in cases}})
