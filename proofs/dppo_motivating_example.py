"""DPPO's motivating example: the ratio misjudges how much probability mass moved.

Rare token μ = 1e-4 → π = 1e-2: r = 100 (PPO clips it for Â > 0) although only Δ = 0.0099 of
mass moved (DPPO-TV at δ = 0.15 keeps it). Common token μ = 0.99 → π = 0.80: r = 80/99 ≈ 0.808
(PPO with ε_l = 0.2 keeps it for Â < 0, since r > 0.8) although 0.19 of mass moved (DPPO-TV
masks it). Exact weights from the derived expressions at the papers' parameters; DRPO's weights at
δ = 0.15 and at the paper's δ = 12.5 are listed for comparison.
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "dppo_motivating_example"
STATEMENT = ("μ = 1e-4 → π = 1e-2 gives r = 100 (PPO/GRPO clips, Â > 0) with |Δ| = 0.0099 (DPPO-TV keeps); "
             "μ = 0.99 → π = 0.80 gives r = 80/99 ≈ 0.81 (PPO keeps, Â < 0) with |Δ| = 0.19 (DPPO-TV masks).")
SOURCE = "DPPO (arXiv 2602.04879) §1 motivating example; docs/papers.md#motivating-example"
METHOD = "symbolic (exact evaluation of the derived weights)"

CASES = [("rare token up-weighted", "1/10000", "1/100", 1),
         ("common token down-weighted", "99/100", "4/5", -1)]
PARAMS = {"ppo_clip": {"eps_low": "0.2", "eps_high": "0.28"},
          "dual_clip": {"eps_low": "0.2", "eps_high": "0.28", "dual_clip_c": "3"},
          "dppo_binary_tv": {"delta_low": "0.15", "delta_high": "0.15"},
          "drpo@0.15": {"delta": "0.15"}, "drpo@12.5": {"delta": "12.5"}}


def weights(mu, pi, s):
    """Exact weights of the compared methods at one token."""
    import sympy as sp

    from drpo_analysis.core import symbolic as S

    out = {}
    for label, params in PARAMS.items():
        w, _ = proving.weight_of(label.split("@")[0], **params)
        out[label] = sp.nsimplify(w.subs({S.MU: sp.Rational(mu), S.PI: sp.Rational(pi), S.ADV: s, S.SIGN: s}))
    return out


def check() -> proving.ProofResult:
    import sympy as sp

    rows = {}
    for label, mu, pi, s in CASES:
        r = sp.Rational(pi) / sp.Rational(mu)
        w = weights(mu, pi, s)
        rows[label] = {"mu": mu, "pi": pi, "s": s, "r": str(r), "r_float": float(r),
                       "shift": str(sp.Rational(pi) - sp.Rational(mu)),
                       "weights": {k: str(v) for k, v in w.items()}}
    rare, common = rows[CASES[0][0]], rows[CASES[1][0]]
    ok = (rare["r"] == "100" and rare["weights"]["ppo_clip"] == "0" and rare["weights"]["dppo_binary_tv"] == "1"
          and common["r"] == "80/99" and common["weights"]["ppo_clip"] == "1"
          and common["weights"]["dppo_binary_tv"] == "0")
    return proving.verdict(ok, {"summary": "r = 100: PPO w = 0, DPPO-TV w = 1; r = 80/99 ≈ 0.808: PPO w = 1, "
                                           "DPPO-TV w = 0", "cases": rows}, None if ok else rows)
