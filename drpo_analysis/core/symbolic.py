"""Derivation helpers: the SymPy face of every method.

A method's objective is evaluated over :class:`SympyOps`, which represents

* ``ℓ`` (``ell``): the differentiable log-probability log π,
* ``sg(ℓ)`` (``ell_sg``): a *frozen* copy; ``sg(e)`` substitutes ``ℓ → ℓ_sg`` in ``e``,
* ``ℓ_μ`` (``ell_mu``), ``Â`` (``A``), extras and parameters as plain symbols.

The gradient is ``∂J/∂ℓ`` with ``ℓ_sg`` held fixed, after which ``ℓ_sg → ℓ`` (stop-gradients are
substituted *after* differentiation). The weight follows the DRPO Table 1 convention
``∂J/∂ℓ = Â r w``. Symbols are declared ``real=True`` (not ``positive``: SymPy's ``limit`` gives
wrong one-sided limits of ``Heaviside`` under ``positive=True``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np
import sympy as sp

from drpo_analysis.core import methods as _methods
from drpo_analysis.core.methods.base import Method, TokenView, make_namespace

ELL = sp.Symbol("ell", real=True)          # ℓ = log π
ELL_SG = sp.Symbol("ell_sg", real=True)    # sg(ℓ)
ELL_MU = sp.Symbol("ell_mu", real=True)    # ℓ_μ = log μ
ADV = sp.Symbol("A", real=True)            # Â
PI = sp.Symbol("pi", real=True)            # π (display / probability-space form)
MU = sp.Symbol("mu", real=True)            # μ


def extra_symbol(quantity) -> sp.Symbol:
    """The real SymPy symbol of an extra quantity (:class:`Extra` or :class:`Statistic`), positive
    when its lower bound is."""
    return sp.Symbol(quantity.symbol, real=True,
                     positive=True if quantity.low is not None and quantity.low > 0 else None)


class SympyOps:
    """The SymPy backend of a :class:`TokenView`."""

    symbolic = True
    exp = staticmethod(sp.exp)
    log = staticmethod(sp.log)
    abs = staticmethod(sp.Abs)
    sign = staticmethod(sp.sign)

    @staticmethod
    def expm1(e):
        return sp.exp(e) - 1

    @staticmethod
    def log1p(e):
        return sp.log(1 + e)

    @staticmethod
    def where(cond, a, b):
        return sp.Piecewise((a, cond), (b, True))

    @classmethod
    def minimum(cls, a, b):
        return cls.where(sp.Le(a, b), a, b)

    @classmethod
    def maximum(cls, a, b):
        return cls.where(sp.Ge(a, b), a, b)

    @staticmethod
    def sg(e):
        return sp.sympify(e).subs(ELL, ELL_SG)

    @staticmethod
    def clamp_log_ratio(e):
        return e

    @staticmethod
    def extra(view, quantity):
        return extra_symbol(quantity)


def param_symbols(method: Method) -> dict[str, sp.Symbol]:
    """One positive (or nonnegative) real symbol per parameter, named as in the papers."""
    out = {}
    for p in method.params:
        nonneg = p.low is not None and p.low >= 0
        out[p.name] = sp.Symbol(p.symbol or p.name, real=True, positive=nonneg and p.low_open or None,
                                nonnegative=nonneg or None)
    return out


def extra_symbols(method: Method) -> dict[str, sp.Symbol]:
    """The symbols of the frozen extra quantities the method's expressions use (GSPO's L and T,
    a Top-K divergence), in the order of :attr:`Method.arguments`."""
    return {q.name: extra_symbol(q) for q in method.arguments}


@lru_cache(maxsize=None)
def objective(name: str, numeric_params: bool = False) -> sp.Expr:
    """The per-token objective ``J(ℓ, ℓ_sg, ℓ_μ, Â, extras; params)`` as a SymPy expression."""
    m = _methods.get(name)
    values = {p.name: sp.nsimplify(p.default) for p in m.params} if numeric_params else param_symbols(m)
    view = TokenView(SympyOps, ELL, ELL_MU, ADV)
    return sp.sympify(m.objective(view, make_namespace(values)))


@lru_cache(maxsize=None)
def gradient(name: str, numeric_params: bool = False) -> sp.Expr:
    """``∂J/∂ℓ`` with stop-gradients substituted after differentiation (log-space form)."""
    return sp.diff(objective(name, numeric_params), ELL).subs(ELL_SG, ELL)


def to_probability_space(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``ℓ → log π``, ``ℓ_μ → log μ`` and collapse ``exp(log π − log μ)`` to ``π/μ``."""
    e = expr.subs({ELL: sp.log(PI), ELL_MU: sp.log(MU)})
    e = e.replace(lambda n: isinstance(n, sp.exp), lambda n: sp.expand_power_exp(n))
    return sp.powsimp(e)


SIGN = sp.Symbol("s", real=True)           # s = sign(Â) in displayed weights


def _map_branches(expr: sp.Expr, fn: Callable[[sp.Expr], sp.Expr],
                  cond_fn: Callable[[Any], Any] = lambda c: c) -> sp.Expr:
    """Apply ``fn`` to every leaf value of a (possibly nested) Piecewise, flattening the nesting
    with ``And`` instead of SymPy's ``piecewise_fold`` (which rewrites conditions into CNF)."""
    if not isinstance(expr, sp.Piecewise):
        return fn(expr)
    pieces = []
    for value, cond in expr.args:
        inner, cond = _map_branches(value, fn, cond_fn), cond_fn(cond)
        if isinstance(inner, sp.Piecewise):
            pieces += [(v, sp.And(cond, c)) for v, c in inner.args]
        else:
            pieces.append((inner, cond))
    return sp.Piecewise(*pieces, evaluate=False)


def _pull_piecewise(expr: sp.Expr) -> sp.Expr:
    """Move Piecewise factors/terms to the top: ``a + P((x, c), (y, True))`` → ``P((a+x, c), ...)``."""
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(_pull_piecewise(v), c) for v, c in expr.args], evaluate=False)
    if not expr.args or not expr.has(sp.Piecewise):
        return expr
    args = [_pull_piecewise(a) for a in expr.args]
    for i, a in enumerate(args):
        if isinstance(a, sp.Piecewise):
            return sp.Piecewise(*[(_pull_piecewise(expr.func(*(args[:i] + [v] + args[i + 1:]))), c)
                                  for v, c in a.args], evaluate=False)
    return expr.func(*args)


@lru_cache(maxsize=None)
def weight(name: str, numeric_params: bool = False) -> sp.Expr:
    """The gradient weight ``w = (∂J/∂ℓ) / (Â r)`` in probability space (π, μ, Â; DRPO Table 1).

    ``|Â|/Â`` is written ``s`` (= sign Â). ``w`` is undefined at ``Â = 0``, where the gradient
    itself (:func:`gradient`) is what the oracle compares.
    """
    g = _pull_piecewise(to_probability_space(gradient(name, numeric_params)))

    def tidy(v):
        v = sp.expand(v / (ADV * PI / MU)).subs(sp.Abs(ADV), ADV * SIGN)
        return min((v, sp.factor_terms(v), sp.simplify(v)), key=sp.count_ops)
    return _map_branches(g, tidy, lambda c: c.subs(sp.sign(ADV), SIGN))


def weight_text(name: str) -> str:
    return sp.sstr(weight(name))


def weight_latex(name: str) -> str:
    return sp.latex(weight(name))


@dataclass(frozen=True)
class Compiled:
    """Lambdified numpy functions of a method's derived gradient and weight at fixed parameters."""

    args: tuple[str, ...]  # argument order: ell, ell_mu, adv, extras...
    grad: Callable[..., np.ndarray]
    weight: Callable[..., np.ndarray]


@lru_cache(maxsize=256)
def compiled(name: str, params: tuple[tuple[str, float], ...] = ()) -> Compiled:
    """``sympy.lambdify`` of ``∂J/∂ℓ`` and ``w`` in log space, parameters substituted exactly.

    Substituting the parameters first lets SymPy decide parameter-only conditions (e.g.
    ``C ≥ C_min``) and fold constants, so the numpy kernels see arrays only.
    """
    m = _methods.get(name)
    subs, xs = _param_subs(m, params), extra_symbols(m)
    syms = [ELL, ELL_MU, ADV, *xs.values()]
    g = gradient(name).subs(subs)
    w = _pull_piecewise(g / (ADV * sp.exp(ELL - ELL_MU)))
    grad_f = sp.lambdify(syms, g, modules="numpy", cse=True)
    weight_f = sp.lambdify(syms, w, modules="numpy", cse=True)
    return Compiled(("ell", "ell_mu", "adv", *xs), grad_f, weight_f)


def _param_subs(m: Method, params) -> dict[sp.Symbol, sp.Rational]:
    """Parameter symbol → exact rational value (defaults overridden by ``params``: pairs
    ``((name, value), ...)``, validated by :meth:`Method.resolve_params`)."""
    try:
        pairs = dict(params)
    except (TypeError, ValueError):
        raise TypeError(f"params must be ((name, value), ...) pairs, got {params!r}") from None
    values = m.resolve_params(pairs)
    ps = param_symbols(m)
    return {ps[k]: sp.nsimplify(v, rational=True) for k, v in values.items()}


def canonical_relation(rel):
    """``lhs op rhs`` as ``g op k`` with the constant moved right and a negative coefficient of
    ``g`` divided out (``ε_l < 1 − r`` → ``r < 1 − ε_l``): fewer operations, and shared ``g``."""
    flip = {sp.StrictGreaterThan: sp.StrictLessThan, sp.StrictLessThan: sp.StrictGreaterThan,
            sp.GreaterThan: sp.LessThan, sp.LessThan: sp.GreaterThan}
    if type(rel) not in flip:
        return rel
    k, g = (rel.lhs - rel.rhs).as_coeff_Add()
    c, h = g.as_coeff_Mul()
    if not (k.is_Number and c.is_Number) or c == 0 or h.is_Number:
        return rel
    op = flip[type(rel)] if c < 0 else type(rel)
    return op(h, -k / c)


@lru_cache(maxsize=256)
def simplified_weight(name: str, params: tuple[tuple[str, float], ...] = ()) -> tuple[list, sp.Expr]:
    """``(args, w)``: the *simplified* weight :func:`weight` mapped back to log space (π → e^ℓ,
    μ → e^ℓ_μ, s → sign Â, products of exponentials combined: π/μ → e^{ℓ−ℓ_μ}), parameters
    substituted, conditions in canonical form; ``args`` = ``[ℓ, ℓ_μ, Â, *extras]`` as
    :func:`compiled`. DRPO's ``1 + 2s(μ − π)/25`` costs two ``exp`` and four operations instead
    of the five ``exp`` of ``(∂J/∂ℓ)/(Â r)``.
    """
    m = _methods.get(name)
    xs = extra_symbols(m)
    subs = {**_param_subs(m, params), PI: sp.exp(ELL), MU: sp.exp(ELL_MU), SIGN: sp.sign(ADV)}

    def to_log_space(e):
        return sp.powsimp(e.subs(subs), combine="exp", deep=True)

    def fewest_ops(v):  # e.g. DRPO: 1 + 2s(μ − π)/25 (5 operations) rather than 8
        return min((v, sp.factor_terms(sp.collect(sp.expand(v), SIGN))), key=sp.count_ops)
    syms = [ELL, ELL_MU, ADV, *xs.values()]
    w = weight(name)
    if isinstance(w, sp.Piecewise):   # rebuilt unevaluated: SymPy would merge equal-valued pieces
        w = sp.Piecewise(*[(to_log_space(fewest_ops(v)),
                            to_log_space(c).replace(lambda n: isinstance(n, sp.core.relational.Relational),
                                                    canonical_relation))
                           for v, c in w.args], evaluate=False)  # into one condition in CNF
    else:
        w = to_log_space(fewest_ops(w))
    return syms, w


_WHERE = sp.Function("where")   # printed as numpy.where by lambdify_where


def lambdify_where(args, expr: sp.Expr) -> Callable[..., np.ndarray]:
    """``sympy.lambdify`` with every Piecewise printed as nested ``numpy.where`` (first true
    condition wins; NaN where none holds) instead of lambdify's ``numpy.select``, which evaluates
    all conditions into a list first (measured by ``drpo-analysis bench --only numpy_compiler``)."""
    def nested(pieces):
        (value, cond), *rest = pieces
        if cond == sp.true:
            return value
        return _WHERE(cond, value, nested(rest) if rest else sp.nan)
    e = sp.sympify(expr).replace(lambda n: isinstance(n, sp.Piecewise), lambda pw: nested(pw.args))
    return sp.lambdify(args, e, modules=[{"where": np.where}, "numpy"], cse=True)


@lru_cache(maxsize=256)
def weight_kernel(name: str, params: tuple[tuple[str, float], ...] = ()) -> Callable[..., np.ndarray]:
    """:func:`simplified_weight` compiled by :func:`lambdify_where`: the fast path of
    ``losses_np.gradient_weight``. ``kernel(ell, ell_mu, adv, *extras, out=None)``, arguments as
    :func:`compiled`; tested equal to ``compiled(...).weight`` wherever Â ≠ 0."""
    return _lambdified_with_out(lambdify_where(*simplified_weight(name, params)))


def _lambdified_with_out(fn):
    """A lambdified function that writes into ``out`` when given (else returns a fresh array)."""
    def kernel(*args, out=None):
        value = fn(*args)
        if out is None:
            return np.broadcast_to(value, np.shape(args[0])).copy()
        out[...] = value
        return out
    return kernel


def one_sided_limits(expr: sp.Expr, var: sp.Symbol, at: Any,
                     subs: Mapping[sp.Symbol, Any] | None = None) -> tuple[sp.Expr, sp.Expr]:
    """``(lim_{v→at⁻}, lim_{v→at⁺})`` of ``expr`` after substituting ``subs``.

    SymPy's ``limit`` of a ``Piecewise`` ignores the conditions near a boundary (it returns
    ``(1, 1)`` for PPO's weight ``Piecewise((0, r > 32/25), (1, True))`` at ``r = 32/25``), so each
    Piecewise is first resolved to the branch active on that side (:func:`_branch_on_side`, exact
    rational probes) and the limit is taken of the smooth branch. Confirm with
    :func:`rational_probe`.
    """
    e = sp.sympify(expr).subs(subs or {})
    return tuple(sp.limit(_branch_on_side(e, var, at, side), var, at, dir=d)
                 for side, d in ((-1, "-"), (1, "+")))


def _branch_on_side(expr: sp.Expr, var: sp.Symbol, at: Any, side: int) -> sp.Expr:
    """Replace every Piecewise by its branch active on ``(at, at + side·h)`` for small ``h``.

    The branch is read off exactly at ``at + side·10⁻ᵏ`` (k = 6, 10, 14, 18) and must be the same
    at all four probes; conditions must decide to True/False there (other symbols substituted).
    """
    def pick(pw):
        chosen = None
        for k in (6, 10, 14, 18):
            x = sp.sympify(at) + side * sp.Rational(1, 10**k)
            for value, cond in pw.args:
                c = sp.sympify(cond).subs(var, x)
                if c is sp.true:
                    break
                if c is not sp.false:
                    raise ValueError(f"condition {cond} is undecided at {var} = {x}; substitute "
                                     "the other symbols first")
            if chosen is not None and value != chosen:
                raise ValueError(f"{pw} changes branch arbitrarily close to {var} = {at}")
            chosen = value
        return chosen
    return sp.sympify(expr).replace(lambda n: isinstance(n, sp.Piecewise), pick)


def rational_probe(expr: sp.Expr, var: sp.Symbol, at: Any, subs: Mapping[sp.Symbol, Any] | None = None,
                   h: sp.Rational = sp.Rational(1, 10**12)) -> tuple[sp.Expr, sp.Expr]:
    """Exact values of ``expr`` at ``at ∓ h`` (rational ``h``): confirms one-sided limits."""
    e = expr.subs(subs or {})
    return sp.nsimplify(e.subs(var, at - h)), sp.nsimplify(e.subs(var, at + h))


# --- kinks: where a condition of the Piecewise gradient switches -------------------------------

RATIO = sp.Symbol("r", positive=True)      # r = π/μ
SHIFT = sp.Symbol("Delta", real=True)      # Δ = π − μ


def _relations(expr: sp.Expr) -> set:
    """Every relational atom of the Piecewise conditions in ``expr`` (nested ones included)."""
    out = set()
    for pw in expr.atoms(sp.Piecewise):
        for value, cond in pw.args:
            out |= {a for a in sp.sympify(cond).atoms(sp.core.relational.Relational)}
    return out


def _branch_values(expr: sp.Expr) -> list[sp.Expr]:
    """``expr`` with each inner Piecewise replaced by each of its branch values (the boundary of
    ``P(x) ≤ c`` lies where one of P's branches crosses c)."""
    pws = list(expr.atoms(sp.Piecewise))
    if not pws:
        return [expr]
    return [v for value, _ in pws[0].args for v in _branch_values(expr.xreplace({pws[0]: value}))]


@lru_cache(maxsize=256)
def kinks(name: str, params: tuple[tuple[str, float], ...] = ()) -> tuple[tuple[str, float], ...]:
    """``(coordinate, value)`` of every point where a condition of the method's Piecewise gradient
    ``∂J/∂ℓ`` switches and the gradient jumps or bends there, sorted. A condition's boundary is solved for
    the ratio (``"log_ratio"``, value log r), the shift (``"shift"``, value Δ = π − μ) or an extra
    quantity that declares a coordinate (GSPO's sequence log-ratio: ``"log_ratio"``); ``sign(Â)``
    is tried as +1 and −1. Conditions on Â alone or on a quantity none of these decide (a Top-K
    divergence) give no point; a boundary where both sides agree in value and slope (Binary-KL's
    Δ = 0, where the divergence is 0) is dropped.
    """
    m = _methods.get(name)
    g = gradient(name).subs(_param_subs(m, params))
    coords = [("log_ratio", RATIO, {ELL: ELL_MU + sp.log(RATIO)}),
              ("shift", SHIFT, {ELL: sp.log(sp.exp(ELL_MU) + SHIFT)})]
    coords += [(q.coordinate, extra_symbol(q), {}) for q in m.arguments if q.coordinate]
    out = set()
    for rel in _relations(g):
        for f in _branch_values(rel.lhs - rel.rhs):
            for s in (1, -1):
                fs = f.subs(sp.sign(ADV), s)
                for kind, var, to in coords:
                    h = sp.simplify(fs.subs(to))
                    if h.free_symbols != {var}:
                        continue
                    for root in _real_roots(h, var):
                        if kind == "log_ratio" and var is RATIO:
                            if not root.is_positive:
                                continue
                            root = sp.log(root)
                        if _switches(g, rel, to, var, root if var is not RATIO else sp.exp(root)):
                            out.add((kind, float(root)))
    return tuple(sorted(out))


def _real_roots(h: sp.Expr, var: sp.Symbol) -> list:
    """Real roots of ``h = 0``: ``solveset``'s when it lists them, else ``solve``'s real ones
    (transcendental boundaries such as ``r − 1 − log r = δ`` come back as LambertW values)."""
    roots = sp.solveset(h, var, domain=sp.S.Reals)
    if isinstance(roots, sp.FiniteSet):
        return list(roots)
    try:
        found = sp.solve(h, var)
    except NotImplementedError:
        return []
    return [r for r in found if r.is_real or (r.evalf().is_real)]


def _switches(g: sp.Expr, rel, to: Mapping, var: sp.Symbol, at: sp.Expr) -> bool:
    """Whether forcing ``rel`` True or False changes the gradient, or its derivative along
    ``var``, at ``var = at`` (differences left undecided by a free Â or Top-K divergence count as
    changes). Equal values and slopes: the condition switches where no branch differs."""
    sides = [g.xreplace({rel: b}).subs(to) for b in (sp.true, sp.false)]
    for order in (0, 1):
        a, b = (sp.simplify(sp.diff(e, var, order).subs(var, at)) for e in sides)
        if sp.simplify(a - b) != 0:
            return True
    return False
