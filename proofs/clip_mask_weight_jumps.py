"""PPO's, dual-clip's and DPPO's weights jump from 1 to 0 at their boundaries (one-sided limits).

Each boundary is approached along the variable the method thresholds: the ratio r for PPO/GRPO
(r = 1 + ε_h for Â > 0, 1 − ε_l for Â < 0) and dual-clip (r = c, Â < 0), the shift Δ for DPPO
Binary-TV (sΔ = δ), the divergence D for DPPO Top-K TV/KL (D = δ, with sΔ > 0; Binary-KL has the
same mask with D = D_bin(μ, π), continuous in π). Limits are taken branch-wise
(``symbolic.one_sided_limits``) at the papers' parameters and confirmed by exact rational
probes (``symbolic.rational_probe``, h = 1e-12). A jump of size 1 means the Lipschitz constant of
these weights is infinite, in contrast to DRPO (``drpo_weight_lipschitz``).
"""
from __future__ import annotations

from drpo_analysis.claims import proving

ID = "clip_mask_weight_jumps"
STATEMENT = ("PPO/GRPO (ε 0.2/0.28), dual-clip (c = 3), DPPO Binary-TV (δ = 0.15) and Top-K TV/KL "
             "weights jump between 1 (inside) and 0 (outside) at their boundaries: one-sided limits "
             "(1, 0), confirmed by exact rational probes.")
SOURCE = "PPO eq. 7; dual-clip (Ye et al. 2020) eq. 5; DPPO (arXiv 2602.04879) eqs. 10-12; DRPO §2"
METHOD = "symbolic (branch-wise one-sided limits) + exact rational probes"


def cases():
    """(label, method, params, substitutions, variable, boundary, inside side) per boundary."""
    import sympy as sp

    from drpo_analysis.core import methods
    from drpo_analysis.core import symbolic as S

    r, d, D = sp.Symbol("r", real=True), sp.Symbol("d", real=True), sp.Symbol("D", real=True)
    mu = sp.Rational(1, 2)
    q = sp.Rational

    def paper(method, *names):   # the registry's paper defaults, as exact decimal strings
        return {n: repr(methods.get(method).default(n)) for n in names}
    ppo = paper("ppo_clip", "eps_low", "eps_high")
    tv = paper("dppo_binary_tv", "delta_low", "delta_high")
    out = [
        ("PPO Â>0 at r = 1+ε_h", "ppo_clip", ppo, {S.ADV: 1, S.PI: r * S.MU}, r, 1 + q(ppo["eps_high"]), -1),
        ("PPO Â<0 at r = 1−ε_l", "ppo_clip", ppo, {S.ADV: -1, S.PI: r * S.MU}, r, 1 - q(ppo["eps_low"]), 1),
        ("dual-clip Â<0 at r = c", "dual_clip", {**ppo, **paper("dual_clip", "dual_clip_c")},
         {S.ADV: -1, S.PI: r * S.MU}, r, q(paper("dual_clip", "dual_clip_c")["dual_clip_c"]), -1),
        ("DPPO-TV Â>0 at Δ = δ", "dppo_binary_tv", tv,
         {S.ADV: 1, S.MU: mu, S.PI: mu + d}, d, q(tv["delta_high"]), -1),
        ("DPPO-TV Â<0 at Δ = −δ", "dppo_binary_tv", tv,
         {S.ADV: -1, S.MU: mu, S.PI: mu + d}, d, -q(tv["delta_low"]), 1),
    ]
    for kind in ("tv", "kl"):
        name = f"dppo_topk_{kind}"
        (sym,) = S.extra_symbols(methods.get(name)).values()   # the Top-K divergence
        deltas = paper(name, "delta_low", "delta_high")
        delta = deltas["delta_high"]
        out.append((f"DPPO Top-K {kind.upper()} Â>0 at D = δ", name, deltas,
                    {S.ADV: 1, S.MU: mu, S.PI: q(6, 10), sym: D}, D, q(delta), -1))
    return out


def check() -> proving.ProofResult:
    from drpo_analysis.core import symbolic as S

    rows = []
    for label, name, params, subs, var, at, inside in cases():
        w, _ = proving.weight_of(name, **params)
        e = w.subs(subs)
        lim = S.one_sided_limits(e, var, at)
        probe = S.rational_probe(e, var, at)
        lim_io, probe_io = (lim if inside < 0 else lim[::-1]), (probe if inside < 0 else probe[::-1])
        row = {"boundary": label, "limits_inside_outside": [str(x) for x in lim_io],
               "probe_inside_outside": [str(x) for x in probe_io]}
        if tuple(lim_io) != (1, 0) or tuple(probe_io) != (1, 0):
            return proving.failed(f"{label}: no 1 → 0 jump", row)
        rows.append(row)
    return proving.proved({"summary": f"{len(rows)} boundaries: weight jumps 1 → 0 (limits and exact "
                                      "probes agree); Lipschitz constant infinite", "cases": rows})
