"""For every registered method, torch autograd and the numpy weight equal the derived weight.

The reference is the weight ``w`` SymPy derives from the method's single definition
(``symbolic.weight``, probability space, DRPO Table 1 convention ``∂J/∂ℓ = Â r w``), lambdified
independently of the numpy face's own kernels. Against it we compare

* the numpy face ``losses_np.gradient_weight`` (float64), and
* the torch face: ``−∂(per_token_loss)/∂ℓ / (Â r)`` by autograd (float64),

at random points covering the whole domain: μ log-uniform in [1e-12, 0.999] (rare tokens
included), π both near μ and anywhere in (0, 1), Â of both signs, at the papers' defaults and at
a second parameter set that reaches the clipped / masked / corrective regimes. Points within a
relative 1e-7 of a kink (a Piecewise condition, a ``sign`` or ``Abs`` argument at 0) or with
|Â| < 1e-3 (where ``w`` is undefined) are excluded: there the one-sided values differ by design
and are the subject of the boundary claims.
"""
from __future__ import annotations

import functools

import numpy as np

from drpo_analysis.claims import proving

ID = "autograd_matches_derived"
STATEMENT = ("For every registered method, torch autograd of the per-token loss and the numpy gradient weight "
             "equal the SymPy-derived weight w (∂J/∂ℓ = Â r w) to rtol 1e-9 / atol 1e-9, at rare "
             "(μ ≥ 1e-12) and common tokens, away from kinks.")
SOURCE = "docs/methods.md#the-gradient-weight; DRPO (arXiv 2606.09821) Table 1 convention"
SEARCH_STARTS, SEARCH_STEPS = 8, 4
METHOD = ("randomised numeric (float64, 2 parameter sets × 3000 points per method) + finite-difference "
          f"adversarial search ({SEARCH_STARTS} starts × {SEARCH_STEPS} steps per method and parameter set)")

N_POINTS = 3000
RTOL = ATOL = 1e-9
KINK_REL = 1e-7
ALT_PARAMS = {"delta": 0.15, "eps": 0.2, "beta": 1.0, "clip_max": 1.5, "clip_min": 0.5,
              "delta_mask": 0.05, "delta_low": 0.02, "delta_high": 0.02, "eps_low": 0.1,
              "eps_high": 0.1, "dual_clip_c": 1.5}


def sample_inputs(method, rng, n):
    """ℓ, ℓ_μ, Â [n] and the method's extras (numpy float64) spread over the whole domain."""
    ell_mu = rng.uniform(np.log(1e-12), np.log(0.999), n)                           # [n]
    near = np.minimum(ell_mu + rng.normal(0.0, 0.3, n), np.log(0.999))
    anywhere = np.log(rng.uniform(1e-12, 0.999, n))
    ell = np.where(rng.random(n) < 0.5, near, anywhere)                               # [n]
    adv = rng.choice([-1.0, 1.0], n) * np.exp(rng.uniform(np.log(1e-3), np.log(10.0), n))
    extras = {}
    for e in method.extras:   # per-token extras, drawn from each one's admissible values
        if e.trailing:
            continue
        if e.low is not None and e.low >= 1:                                           # a count |y|
            extras[e.name] = rng.integers(1, 64, n).astype(float)                      # [n]
        elif e.low is not None:                       # a divergence statistic (verl's k2 / k3), ≥ 0
            extras[e.name] = e.low + rng.exponential(0.1, n)                           # [n]
        else:   # a log-ratio: near 0 (GSPO's clip at 3e-4) or a sequence's sum, anywhere
            extras[e.name] = np.where(rng.random(n) < 0.5, rng.normal(0.0, 6e-4, n), rng.normal(0.0, 1.0, n))
    for stat in method.statistics:   # a statistic of two log-probability sets (μ, then π) [n, K]
        k = 6
        p_mu = rng.dirichlet(np.ones(k + 1), n)                                        # [n, K+1]
        p_pi = p_mu * np.exp(rng.normal(0.0, rng.uniform(0.01, 1.5, (n, 1)), (n, k + 1)))
        p_pi /= p_pi.sum(-1, keepdims=True)
        mu_set, pi_set = stat.inputs
        extras[mu_set.name], extras[pi_set.name] = np.log(p_mu[:, :k]), np.log(p_pi[:, :k])
    return ell, ell_mu, adv, extras


@functools.lru_cache(maxsize=None)
def _reference(name, params):
    """``params``: sorted (name, value) pairs. Lambdified derived weight in (π, μ, Â, s, extras) and the kink-gap functions."""
    import sympy as sp
    from sympy.core.relational import Relational

    from drpo_analysis.core import methods, symbolic as S

    m = methods.get(name)
    ps = S.param_symbols(m)
    subs = {ps[k]: sp.nsimplify(v, rational=True) for k, v in params}
    xs = S.extra_symbols(m)
    w = S.weight(name).subs(subs)
    w_fn = sp.lambdify([S.PI, S.MU, S.ADV, S.SIGN, *xs.values()], w, modules="numpy")
    g = S.gradient(name).subs(subs)
    gaps = [r.lhs - r.rhs for r in g.atoms(Relational) | w.atoms(Relational)]
    gaps += [a.args[0] for a in g.atoms(sp.sign, sp.Abs, sp.Heaviside)]
    gap_syms = [S.ELL, S.ELL_MU, S.ADV, S.PI, S.MU, S.SIGN, *xs.values()]
    gap_fns = [(sp.lambdify(gap_syms, d, modules="numpy"),
                sp.lambdify(gap_syms, sum(sp.Abs(t) for t in sp.Add.make_args(d)), modules="numpy"))
               for d in gaps]  # (gap, magnitude of its terms): the gap is judged relative to it
    return w_fn, gap_fns, list(xs)


def _torch_weight(name, ell, ell_mu, adv, params, extras):
    import torch

    from drpo_analysis.core import losses_torch

    lt = torch.tensor(ell, dtype=torch.float64, requires_grad=True)
    loss = losses_torch.per_token_loss(
        name, lt, torch.tensor(ell_mu), torch.tensor(adv), params=params,
        extras={k: torch.tensor(v) for k, v in extras.items()})
    loss.sum().backward()
    return -lt.grad.numpy() / (adv * np.exp(ell - ell_mu))


def point_errors(name, params, ell, ell_mu, adv, extras, *, numpy_weight=None):
    """Per point [n]: ``(kept, reference w, numpy face w, torch face w, error / tolerance, extras)``
    with tolerance ``ATOL + RTOL·|w|`` (> 1 is a mismatch, as in ``first_mismatch``); points within
    a relative KINK_REL of a kink are not kept (reported as 0)."""
    from drpo_analysis.core import losses_np, methods

    m = methods.get(name)
    n = len(ell)
    w_fn, gap_fns, extra_names = _reference(name, tuple(sorted(params.items())))
    pi, mu, s = np.exp(ell), np.exp(ell_mu), np.sign(adv)
    extra_vals = m.argument_values(extras)
    keep = np.ones(n, bool)
    with np.errstate(all="ignore"):
        for gap, scale in gap_fns:
            args = (ell, ell_mu, adv, pi, mu, s, *extra_vals)
            d = np.broadcast_to(np.asarray(gap(*args), float), (n,))
            keep &= np.abs(d) > KINK_REL * np.abs(np.broadcast_to(scale(*args), (n,)))
        ref = np.broadcast_to(np.asarray(w_fn(pi, mu, adv, s, *extra_vals), float), (n,))
        np_w = (numpy_weight or losses_np.gradient_weight)(name, ell, ell_mu, adv, params=params, extras=extras)
        t_w = _torch_weight(name, ell, ell_mu, adv, params, extras)
        err = np.maximum(np.abs(np_w - ref), np.abs(t_w - ref)) / (ATOL + RTOL * np.abs(ref))
    err = np.where(keep, np.nan_to_num(err, nan=np.inf), 0.0)
    return keep, ref, np_w, t_w, err, dict(zip(extra_names, extra_vals))


def compare_method(name, params, rng, n=N_POINTS, *, numpy_weight=None):
    """Compare both faces with the derived weight for one method and parameter set.

    ``numpy_weight`` replaces the numpy face (used by the tests to show a wrong weight is caught).
    Returns ``(n_checked, max_rel_err, counterexample or None)``.
    """
    from drpo_analysis.core import methods

    ell, ell_mu, adv, extras = sample_inputs(methods.get(name), rng, n)
    keep, ref, np_w, t_w, _, extra_vals = point_errors(name, params, ell, ell_mu, adv, extras,
                                                       numpy_weight=numpy_weight)
    sel = lambda a: a[keep]  # noqa: E731
    inputs = {"pi": sel(np.exp(ell)), "mu": sel(np.exp(ell_mu)), "adv": sel(adv),
              **{k: sel(np.broadcast_to(v, (n,))) for k, v in extra_vals.items()}}
    for face, got in (("numpy", np_w), ("torch", t_w)):
        bad = proving.first_mismatch(sel(ref), sel(got), rtol=RTOL, atol=ATOL, inputs=inputs)
        if bad:
            return int(keep.sum()), np.inf, {"method": name, "face": face, "params": params, **bad}
    err = max(proving.max_rel_error(sel(ref), sel(np_w), ATOL), proving.max_rel_error(sel(ref), sel(t_w), ATOL))
    return int(keep.sum()), err, None


def search_method(name, params, rng, starts=SEARCH_STARTS):
    """Largest error / tolerance of either face found by finite-difference ascent on
    ``(log μ, log π − log μ, log|Â|)`` from ``starts`` random points (signs and extras fixed)."""
    from drpo_analysis.core import methods

    ell, ell_mu, adv, extras = sample_inputs(methods.get(name), rng, starts)
    sign = np.sign(adv)

    def fun(x):
        l_mu = x[:, 0]
        l_pi = np.minimum(l_mu + x[:, 1], np.log(0.999))
        return point_errors(name, params, l_pi, l_mu, sign * np.exp(x[:, 2]), extras)[4]
    x0 = np.stack([ell_mu, ell - ell_mu, np.log(np.abs(adv))], 1)
    lower, upper = [np.log(1e-12), -30.0, np.log(1e-3)], [np.log(0.999), 30.0, np.log(10.0)]
    return proving.fd_ascent(fun, x0, steps=SEARCH_STEPS, h=1e-3, lr=0.3, lower=lower, upper=upper)[0]


def check() -> proving.ProofResult:
    from drpo_analysis.core import methods

    rng = np.random.default_rng(20260611)
    rows = {}
    for name in methods.names():
        m = methods.get(name)
        for label, overrides in (("defaults", {}), ("alt", ALT_PARAMS)):
            params = m.resolve_params({k: v for k, v in overrides.items() if k in {p.name for p in m.params}})
            n, err, bad = compare_method(name, params, rng)
            if bad:
                return proving.failed(f"{name} ({label}): {bad['face']} face deviates from the derived weight", bad)
            found = search_method(name, params, rng)
            rows[f"{name}/{label}"] = {"points": n, "max_rel_err": float(f"{err:.2e}"),
                                       "search_max_err_over_tol": float(f"{found:.2e}")}
            if found > 1:
                return proving.failed(f"{name} ({label}): adversarial search finds error / tolerance {found:.2e}",
                                      {"method": name, "params": params, "search_max_err_over_tol": found})
    total = sum(r["points"] for r in rows.values())
    worst = max(r["max_rel_err"] for r in rows.values())
    searched = max(r["search_max_err_over_tol"] for r in rows.values())
    return proving.no_counterexample({
        "summary": f"no counterexample: {total} random points over {len(rows)} method/parameter sets, worst relative "
                   f"error {worst:.1e}; finite-difference ascent ({SEARCH_STARTS} starts × {SEARCH_STEPS} steps per set) "
                   f"max |error| / (atol + rtol·|w|) = {searched:.1e} (a mismatch is > 1; rtol = atol = {RTOL:g})",
        "per_method": rows})
