"""Induction over the horizon for DPPO Theorems 3.1 and 3.2 (arXiv 2602.04879): every step, checked.

Setting (as in the paper, γ = 1): sequences ``y = (a_1, …, a_T)``, a sequence reward ``R(y)`` with
``m ≤ R ≤ M`` (``ρ = M − m``, ``ξ = max |R|``), behaviour policy μ > 0 and target π, the state
``s_t`` the prefix ``(a_1, …, a_{t−1})``, ``r_t = π(a_t|s_t)/μ(a_t|s_t)``. For a state ``s`` at
depth ``t`` with ``k = T − t + 1`` decisions left (``k = 0``: ``s`` is a full sequence):

* ``V^μ(s) = E_μ[R | s]``, ``V^π(s) = E_π[R | s]``, ``G(s) = V^π(s) − V^μ(s)``;
* ``L′(s) = E_μ[R Σ_{j≥t} (r_j − 1) | s]``, ``Δ(s) = E_μ[R Σ_{j≥t} (r_j − 1)(1 − Π_{i>j} r_i) | s]``;
* ``D(s) = D_TV(μ(·|s), π(·|s)) = ½ Σ_a |π_a − μ_a| = Σ_a (π_a − μ_a)⁺`` (as ``Σ_a (π_a − μ_a) = 0``),
  ``D̄(s) = E_μ[Σ_{j≥t} D(s_j) | s]``.

At the root these are the paper's ``J(π) − J(μ) = G``, ``L′``, ``Δ`` and ``E_μ[Σ_t D_TV(s_t)] = D̄``.

**Unfolding (tower rule).** Conditioning on the first action ``a`` (probability ``μ_a``, ratio
``r_t = π_a/μ_a``; children's quantities carry the index ``a``; ``E_μ[R Π_{i>t} r_i | sa] = V^π_a``,
importance sampling, itself the same one-step recursion ``Σ_a μ_a (π_a/μ_a) V^π_a``)::

    V^μ(s) = Σ_a μ_a V^μ_a            V^π(s) = Σ_a π_a V^π_a
    L′(s) = Σ_a μ_a [(π_a/μ_a − 1) V^μ_a + L′_a] = Σ_a [(π_a − μ_a) V^μ_a + μ_a L′_a]
    Δ(s)  = Σ_a μ_a [(π_a/μ_a − 1)(V^μ_a − V^π_a) + Δ_a] = Σ_a [μ_a Δ_a + (μ_a − π_a) G_a]
    D̄(s) = D(s) + Σ_a μ_a D̄_a

At a full sequence: ``V^μ = V^π = R``, ``G = L′ = Δ = D̄ = 0``.

**How a step is checked.** An inequality over a node is a sum over actions. Each action falls in
one of two cases, written with a slack ``u ≥ 0``: case A ``π_a = μ_a + u`` (then ``(π_a − μ_a)⁺ = u``),
case B ``μ_a = π_a + u`` (then ``(π_a − μ_a)⁺ = 0``, ``(μ_a − π_a)⁺ = u``). For each case the
per-action bound minus the per-action summand is written as a sum of products of facts that are
≥ 0 (``u``, ``π_a``, ``μ_a``, a child's induction hypothesis, ``M − V^μ_a``, …), and SymPy checks
the identity (:func:`proving.nonnegative_certificate`): a certificate, so the per-action inequality
holds on the whole domain. Summing over the finitely many actions is the only step left in words,
together with ``Σ_a μ_a = Σ_a π_a = 1`` (which lets a constant ``c`` be added as ``Σ_a (π_a − μ_a) c``)
and ``Σ_a (π_a − μ_a)⁺ = Σ_a (μ_a − π_a)⁺ = D(s)``; the node-level bookkeeping after the sum is
checked the same way. :data:`STEPS` lists every step; :func:`check_steps` runs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from drpo_analysis.claims import proving

# per-action symbols: probabilities and the case slack, the child's quantities, reward range
mu, pi, u = sp.symbols("mu_a pi_a u", nonnegative=True)
Vm, Vp, L, Dl, Db = sp.symbols("Vmu_a Vpi_a Lp_a Delta_a Dbar_a", real=True)
m, M, xi = sp.symbols("m M xi", real=True)
k, D, Ds, T = sp.symbols("k D D_s T", nonnegative=True)
SumMuDb = sp.Symbol("SumMuDbar", real=True)     # Σ_a μ_a D̄_a at a node
rho = M - m
G = Vp - Vm

CASES = {"A (π_a ≥ μ_a)": {pi: mu + u}, "B (π_a < μ_a)": {mu: pi + u}}
POS = {"A (π_a ≥ μ_a)": u, "B (π_a < μ_a)": sp.Integer(0)}    # (π_a − μ_a)⁺ in each case
NEG = {"A (π_a ≥ μ_a)": sp.Integer(0), "B (π_a < μ_a)": u}    # (μ_a − π_a)⁺ in each case
POS_, NEG_ = sp.symbols("POS NEG")  # placeholders for (π_a − μ_a)⁺, (μ_a − π_a)⁺ in a bound


@dataclass(frozen=True)
class Step:
    """``lhs ≤ rhs`` (or ``lhs = rhs`` when ``identity``), per action in ``case`` or at a node.

    ``facts``: name → (expression ≥ 0, why); ``certificate``: products of fact names whose sum is
    ``rhs − lhs`` (empty for an identity).
    """

    lemma: str
    name: str
    case: str
    lhs: sp.Expr
    rhs: sp.Expr
    facts: dict = field(default_factory=dict)
    certificate: tuple = ()
    identity: bool = False

    def check(self) -> str | None:
        """None if the step holds (identity, or certified inequality), else why not."""
        sub = CASES.get(self.case, {})
        lhs, rhs = sp.sympify(self.lhs).subs(sub), sp.sympify(self.rhs).subs(sub)
        facts = {n: sp.sympify(e).subs(sub) for n, (e, _) in self.facts.items()}
        if self.identity:
            return None if sp.expand(sp.together(rhs - lhs)) == 0 else f"not an identity: {sp.factor(rhs - lhs)}"
        return proving.nonnegative_certificate(rhs - lhs, self.certificate, facts)

    def describe(self) -> str:
        rel = "=" if self.identity else "≤"
        why = "; ".join(f"{n} = {e} ≥ 0 ({w})" for n, (e, w) in self.facts.items())
        return f"[{self.lemma}] {self.name}, case {self.case}: {self.lhs} {rel} {self.rhs}" + (f"; facts: {why}" if why else "")


def _per_action(lemma, name, summand, bound, facts, certificates):
    """One step per case; ``certificates[case]`` lists the products for that case."""
    return [Step(lemma, name, case, summand, bound.subs({POS_: POS[case], NEG_: NEG[case]}),
                 facts, tuple(certificates[case])) for case in CASES]


A, B = CASES

RANGE = {"Vmu-m": (Vm - m, "range lemma at the child: m ≤ V^μ_a"), "M-Vmu": (M - Vm, "range lemma: V^μ_a ≤ M"),
         "Vpi-m": (Vp - m, "range lemma at the child: m ≤ V^π_a"), "M-Vpi": (M - Vp, "range lemma: V^π_a ≤ M")}
BASIC = {"u": (u, "case slack"), "mu": (mu, "probability"), "pi": (pi, "probability")}


def _steps() -> list[Step]:
    steps: list[Step] = []
    r = pi / mu
    # --- unfolding: the definitions' first-action split, per action (tower rule) ----------------
    steps += [
        Step("unfold", "L′ summand", "any", mu * ((r - 1) * Vm + L), (pi - mu) * Vm + mu * L, identity=True),
        Step("unfold", "Δ summand", "any", mu * ((r - 1) * (Vm - Vp) + Dl), mu * Dl + (mu - pi) * G, identity=True),
        Step("unfold", "V^π by importance sampling", "any", mu * r * Vp, pi * Vp, identity=True),
    ]
    # --- Theorem 3.1: G(s) = L′(s) − Δ(s), given G_a = L′_a − Δ_a at every child ------------------
    steps.append(Step("thm 3.1", "G = L′ − Δ summand", "any", pi * Vp - mu * Vm,
                      ((pi - mu) * Vm + mu * L) - (mu * (L - G) + (mu - pi) * G), identity=True))
    # --- range lemma: m ≤ V(s) ≤ M (Σ_a μ_a = Σ_a π_a = 1 writes m = Σ_a μ_a m) -------------------
    for pol, name, V, tag in ((mu, "mu", Vm, "mu"), (pi, "pi", Vp, "pi")):
        facts = {name: BASIC[name], f"V{tag}-m": RANGE[f"V{tag}-m"], f"M-V{tag}": RANGE[f"M-V{tag}"]}
        steps.append(Step("range", f"V^{tag} ≥ m summand", "any", pol * m, pol * V, facts, ((name, f"V{tag}-m"),)))
        steps.append(Step("range", f"V^{tag} ≤ M summand", "any", pol * V, pol * M, facts, ((name, f"M-V{tag}"),)))
    # --- (b), lemma L: L′(s) ≤ ρ D̄(s), given L′_a ≤ ρ D̄_a ---------------------------------------
    hyp_L = {"IH_L": (rho * Db - L, "lemma L at the child"), **BASIC, **RANGE}
    steps += _per_action("(b) lemma L", "L′ summand (π_a − μ_a)(V^μ_a − m) + μ_a L′_a ≤ ρ(π_a − μ_a)⁺ + μ_a ρ D̄_a",
                         (pi - mu) * (Vm - m) + mu * L, rho * POS_ + mu * rho * Db, hyp_L,
                         {A: [("u", "M-Vmu"), ("mu", "IH_L")], B: [("u", "Vmu-m"), ("mu", "IH_L")]})
    steps.append(Step("(b) lemma L", "node: ρ D(s) + ρ Σ_a μ_a D̄_a = ρ D̄(s)", "node",
                      rho * Ds + rho * SumMuDb, rho * (Ds + SumMuDb), identity=True))
    # --- (b), main: Δ(s) ≤ ρ D̄(s), given Δ_a ≤ ρ D̄_a, L′_a ≤ ρ D̄_a and Δ_a = L′_a − G_a (thm 3.1) ----
    hyp_D = {"IH_Delta": (rho * Db - (L - G), "(b) at the child, Δ_a = L′_a − G_a by thm 3.1"), **hyp_L}
    steps += _per_action("(b)", "Δ summand μ_a Δ_a + (μ_a − π_a) G_a ≤ ρ (π_a − μ_a)⁺ + μ_a ρ D̄_a",
                         mu * (L - G) + (mu - pi) * G, rho * POS_ + mu * rho * Db, hyp_D,
                         {A: [("mu", "IH_Delta"), ("u", "Vpi-m"), ("u", "M-Vmu")],
                          B: [("pi", "IH_Delta"), ("u", "IH_L")]})
    steps.append(Step("(b)", "node: Σ of the bounds is ρ D̄(s)", "node",
                      rho * Ds + rho * SumMuDb, rho * (Ds + SumMuDb), identity=True))
    # --- (a), lemma G: |G(s)| ≤ ρ k D when every D(s') ≤ D below s; child bound ρ (k − 1) D -----------
    hyp_G = {"IH_G_hi": (rho * (k - 1) * D - G, "lemma G at the child: G_a ≤ ρ(k−1)D"),
             "IH_G_lo": (rho * (k - 1) * D + G, "lemma G at the child: G_a ≥ −ρ(k−1)D"), **BASIC, **RANGE}
    steps += _per_action("(a) lemma G", "G summand π_a G_a + (π_a − μ_a)(V^μ_a − m) ≤ π_a ρ(k−1)D + ρ(π_a − μ_a)⁺",
                         pi * G + (pi - mu) * (Vm - m), pi * rho * (k - 1) * D + rho * POS_, hyp_G,
                         {A: [("pi", "IH_G_hi"), ("u", "M-Vmu")], B: [("pi", "IH_G_hi"), ("u", "Vmu-m")]})
    steps += _per_action("(a) lemma G", "−G summand −π_a G_a + (π_a − μ_a)(M − V^μ_a) ≤ π_a ρ(k−1)D + ρ(π_a − μ_a)⁺",
                         -pi * G + (pi - mu) * (M - Vm), pi * rho * (k - 1) * D + rho * POS_, hyp_G,
                         {A: [("pi", "IH_G_lo"), ("u", "Vmu-m")], B: [("pi", "IH_G_lo"), ("u", "M-Vmu")]})
    node_G = {"rho": (rho, "M ≥ m"), "D-Ds": (D - Ds, "D(s) ≤ D"), "k-1": (k - 1, "k ≥ 1 in the step"),
              "Dpos": (D, "D ≥ 0")}
    steps.append(Step("(a) lemma G", "node: ρ(k−1)D + ρ D(s) ≤ ρ k D", "node", rho * (k - 1) * D + rho * Ds,
                      rho * k * D, node_G, (("rho", "D-Ds"),)))
    # --- (a), main: Δ(s) ≤ B_k = ρ k (k − 1) D², given Δ_a ≤ B_{k−1} and lemma G at the child -------
    b_prev = rho * (k - 1) * (k - 2) * D ** 2
    hyp_A = {"IH_Delta": (b_prev - Dl, "(a) at the child: Δ_a ≤ ρ(k−1)(k−2)D²"), **hyp_G}
    steps += _per_action("(a)", "Δ summand μ_a Δ_a + (μ_a − π_a)(G_a + ρ(k−1)D) ≤ μ_a B_{k−1} + 2ρ(k−1)D (μ_a − π_a)⁺",
                         mu * Dl + (mu - pi) * (G + rho * (k - 1) * D), mu * b_prev + 2 * rho * (k - 1) * D * NEG_, hyp_A,
                         {A: [("mu", "IH_Delta"), ("u", "IH_G_lo")], B: [("mu", "IH_Delta"), ("u", "IH_G_hi")]})
    steps.append(Step("(a)", "node: B_{k−1} + 2ρ(k−1)D·D(s) ≤ ρ k(k−1) D²", "node",
                      b_prev + 2 * rho * (k - 1) * D * Ds, rho * k * (k - 1) * D ** 2, node_G,
                      (("2", "rho", "k-1", "Dpos", "D-Ds"),)))
    # --- base case: a full sequence (k = 0): G = L′ = Δ = D̄ = 0, V^μ = V^π = R ∈ [m, M] ------------
    steps += [
        Step("base", "(a) lemma G at k = 0: |G| = 0 ≤ ρ·0·D", "node", sp.Integer(0), (rho * k * D).subs(k, 0), identity=True),
        Step("base", "(a) at k = 0: Δ = 0 ≤ ρ·0·(−1)·D²", "node", sp.Integer(0), (rho * k * (k - 1) * D ** 2).subs(k, 0),
             identity=True),
        Step("base", "(b) and lemma L: Δ = L′ = 0 ≤ ρ D̄ = 0", "node", sp.Integer(0), rho * 0, identity=True),
    ]
    # --- from ρ to the paper's ξ = max|R| ---------------------------------------------------------
    signed = {"xi-M": (xi - M, "M ≤ max|R| = ξ"), "xi+m": (xi + m, "−m ≤ max|R| = ξ"), "Dbar": (Db, "D̄ ≥ 0"),
              "T(T-1)": (T * (T - 1), "T ≥ 1 an integer"), "Dpos": (D, "D ≥ 0"), "m": (m, "rewards ≥ 0")}
    steps += [
        Step("ξ", "signed rewards: ρ D̄ ≤ 2ξ D̄", "node", rho * Db, 2 * xi * Db, signed, (("Dbar", "xi-M"), ("Dbar", "xi+m"))),
        Step("ξ", "rewards in [0, ξ]: ρ D̄ ≤ ξ D̄", "node", rho * Db, xi * Db, signed, (("Dbar", "xi-M"), ("Dbar", "m"))),
        Step("ξ", "(a): ρ T(T−1) D² ≤ 2ξ T(T−1) D²", "node", rho * T * (T - 1) * D ** 2, 2 * xi * T * (T - 1) * D ** 2,
             signed, (("T(T-1)", "Dpos", "Dpos", "xi-M"), ("T(T-1)", "Dpos", "Dpos", "xi+m"))),
    ]
    return steps


STEPS: list[Step] = _steps()


def check_steps(steps: list[Step] | None = None) -> tuple[list[str], list[tuple[Step, str]]]:
    """Check every step; returns ``(descriptions of the steps checked, [(step, why) that failed])``."""
    done, bad = [], []
    for s in steps if steps is not None else STEPS:
        why = s.check()
        (bad.append((s, why)) if why else done.append(s.describe()))
    return done, bad


def lemmas(*names: str) -> list[Step]:
    """The steps of the named lemmas (``"unfold"``, ``"thm 3.1"``, ``"range"``, ``"(a) lemma G"``,
    ``"(a)"``, ``"(b) lemma L"``, ``"(b)"``, ``"base"``, ``"ξ"``)."""
    return [s for s in STEPS if s.lemma in names]
