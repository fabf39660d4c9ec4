"""In-place evaluation of a SymPy expression with numpy ufuncs, for cache-sized chunks.

``sympy.lambdify`` turns ``1 + 2s(μ − π)/25`` into numpy code that allocates a fresh temporary for
every operation and a result that the caller then copies into its output. :func:`compile_expr`
instead turns the expression DAG (shared sub-expressions evaluated once) into a straight-line
program of ufunc calls with ``out=`` arguments: intermediate values live in a few scratch buffers,
reused once their last reader has run, and the final operation writes straight into the caller's
output slice. Per thread the scratch buffers are allocated once.

Supported: numbers, symbols, ``Add``, ``Mul`` (with ``Pow(x, −1)`` factors as divisions),
numeric powers, ``exp``, ``log``, ``sign``, ``Abs``, relations, ``And``/``Or``/``Not``, ``ITE`` and
``Piecewise`` (first true condition wins). Anything else raises ``NotImplementedError`` (callers
fall back to ``lambdify``).
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Sequence

import numpy as np
import sympy as sp

_UNARY = {sp.exp: np.exp, sp.log: np.log, sp.sign: np.sign, sp.Abs: np.abs}
_RELATIONS = {sp.StrictGreaterThan: np.greater, sp.StrictLessThan: np.less,
              sp.GreaterThan: np.greater_equal, sp.LessThan: np.less_equal,
              sp.Equality: np.equal, sp.Unequality: np.not_equal}
_BOOL = {sp.And: np.logical_and, sp.Or: np.logical_or}


def _is_bool(e) -> bool:
    return isinstance(e, (sp.logic.boolalg.Boolean, sp.core.relational.Relational))


class InplaceKernel:
    """A compiled program: ``kernel(*arrays, out=...)`` evaluates the expression into ``out``.

    The steps are turned into straight-line Python source once (``source``), so a call costs the
    ufunc calls themselves and nothing of an interpreter loop.
    """

    def __init__(self, steps, n_float: int, n_bool: int, n_inputs: int):
        self.steps = steps            # [(kind, fn, operands, dest)]; dest None = the output
        self.n_float, self.n_bool = n_float, n_bool
        self.n_inputs = n_inputs
        self._local = threading.local()
        self.source, self._fn = self._generate()

    def _generate(self):
        consts: dict = {}

        def name(op):
            tag, v = op
            if tag == "in":
                return f"x{v}"
            if tag == "out":
                return "out"
            if tag == "c":
                return consts.setdefault(repr(v), f"c{len(consts)}")
            return f"{tag}{v}"
        args = ", ".join(f"x{i}" for i in range(self.n_inputs))
        lines = [f"def kernel({args}, out=None):",
                 "    n = x0.shape[0]",
                 "    if out is None:",
                 "        out = empty(n)"]
        bufs = [f"f{i}" for i in range(self.n_float)] + [f"b{i}" for i in range(self.n_bool)]
        if bufs:
            lines.append(f"    {', '.join(bufs)}{',' if len(bufs) == 1 else ''} = buffers(n)")
        env = {"empty": np.empty, "copyto": np.copyto, "buffers": self._buffers}
        for kind, fn, operands, dest in self.steps:
            target = "out" if dest is None else name(dest)
            ops = [name(o) for o in operands]
            if kind == "ufunc":
                env[fn.__name__] = fn
                lines.append(f"    {fn.__name__}({', '.join(ops)}, out={target})")
            elif kind == "fill":
                lines.append(f"    copyto({target}, {ops[0]})")
            else:
                lines.append(f"    copyto({target}, {ops[0]}, where={ops[1]})")
        lines.append("    return out")
        env.update({v: eval(k, {"nan": np.nan, "inf": np.inf}) for k, v in consts.items()})
        source = "\n".join(lines)
        exec(compile(source, "<inplace kernel>", "exec"), env)
        return source, env["kernel"]

    def _buffers(self, n):
        loc = self._local
        if getattr(loc, "size", -1) < n:
            loc.size = n
            loc.bufs = [np.empty(n) for _ in range(self.n_float)] + \
                [np.empty(n, dtype=bool) for _ in range(self.n_bool)]
        return [b[:n] for b in loc.bufs]

    def __call__(self, *arrays, out=None):
        if len(arrays) != self.n_inputs:
            raise TypeError(f"kernel takes {self.n_inputs} arrays, got {len(arrays)}")
        return self._fn(*arrays, out=out)


def _add_parts(e):
    """``Add`` terms split into added terms and the ``t`` of ``−t`` terms (subtracted)."""
    pos, neg = [], []
    for a in e.args:
        c, rest = a.as_coeff_Mul()
        if c == -1:
            neg.append(rest)
        elif c.is_Number and c < 0 and rest != 1:
            neg.append(-a)
        else:
            pos.append(a)
    return pos, neg


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


def _mul_parts(e):
    """``Mul`` factors split into numerator factors and the bases of ``x**-1`` factors."""
    num, den = [], []
    for a in e.args:
        (den if isinstance(a, sp.Pow) and a.exp == -1 else num).append(a.base if isinstance(a, sp.Pow)
                                                                         and a.exp == -1 else a)
    return num, den


def _operands(e):
    if e.is_Symbol or e.is_Number or e in (sp.true, sp.false, sp.nan):
        return []
    if isinstance(e, sp.Piecewise):
        return [x for v, c in e.args for x in (v, c)]
    if isinstance(e, sp.ITE):          # ITE(c, a, b) ≡ Piecewise((a, c), (b, True))
        c, a, b = e.args
        return [a, c, b]
    if isinstance(e, sp.Mul):
        num, den = _mul_parts(e)
        return num + den
    if isinstance(e, sp.Add):
        pos, neg = _add_parts(e)
        return pos + neg
    if isinstance(e, sp.Pow):
        return [e.base]
    return list(e.args)


def compile_expr(expr: sp.Expr, args: Sequence[sp.Symbol]) -> InplaceKernel:
    """Compile ``expr`` (a function of ``args``) into an :class:`InplaceKernel`."""
    index = {s: i for i, s in enumerate(args)}
    uses: Counter = Counter()

    def count(e):                     # readers of each node of the DAG (shared nodes counted once)
        for a in _operands(e):
            uses[a] += 1
            if uses[a] == 1:
                count(a)
    count(expr)
    free = {"f": [], "b": []}
    n_slots = {"f": 0, "b": 0}
    done: dict = {}
    steps: list = []

    def emit(e, root=False):
        if e in done:
            return done[e]
        if e.is_Symbol:
            if e not in index:
                raise NotImplementedError(f"free symbol {e} is not an argument")
            return ("in", index[e])
        if e in (sp.true, sp.false):
            return ("c", bool(e))
        if e.is_Number or e == sp.nan:
            return ("c", float(e))
        children = _operands(e)
        ops = [emit(a) for a in children]
        if root:
            dest = None
        else:                         # allocated before the operands are released: a multi-step
            kind = "b" if _is_bool(e) else "f"   # node must not overwrite an operand it still reads
            dest = (kind, free[kind].pop()) if free[kind] else (kind, n_slots[kind])
            n_slots[kind] += dest[1] == n_slots[kind]
        _emit_node(e, ops, dest, steps)
        for a in children:
            uses[a] -= 1
            op = done.get(a)
            if uses[a] == 0 and op is not None and op[0] in ("f", "b"):
                free[op[0]].append(op[1])
        done[e] = ("out", None) if root else dest
        return done[e]

    result = emit(expr, root=True)
    if result[0] in ("in", "c"):      # the expression is an input or a constant
        steps.append(("fill", None, [result], None))
    return InplaceKernel(steps, n_slots["f"], n_slots["b"], len(args))


def _emit_node(e, ops, dest, steps):
    """Append the steps computing ``e`` from its evaluated operands ``ops`` into ``dest``."""
    me = ("out", None) if dest is None else dest

    def ufunc(fn, *operands):
        steps.append(("ufunc", fn, list(operands), dest))

    def chain(fn, operands):
        ufunc(fn, operands[0], operands[1])
        for o in operands[2:]:
            ufunc(fn, me, o)

    def fold(op, inverse, unit, k):
        """``(a₁ op a₂ op …) inverse b₁ inverse b₂ …``: Add (subtracted −t terms), Mul (divisors)."""
        pos, neg = ops[:k], ops[k:]
        if len(pos) >= 2:
            chain(op, pos)
        first = me if len(pos) >= 2 else (pos[0] if pos else ("c", unit))
        for o in neg:
            ufunc(inverse, first, o)
            first = me
        if first != me:               # a lone term (not produced by SymPy): copy it
            steps.append(("fill", None, [first], dest))

    if isinstance(e, sp.Add):
        fold(np.add, np.subtract, 0.0, len(_add_parts(e)[0]))
    elif isinstance(e, sp.Mul):
        fold(np.multiply, np.divide, 1.0, len(_mul_parts(e)[0]))
    elif isinstance(e, (sp.And, sp.Or)):
        chain(_BOOL[type(e)], ops)
    elif isinstance(e, sp.Pow):
        p = e.exp
        if p == -1:
            ufunc(np.divide, ("c", 1.0), ops[0])
        elif p == 2:
            ufunc(np.multiply, ops[0], ops[0])
        elif p == sp.Rational(1, 2):
            ufunc(np.sqrt, ops[0])
        elif p.is_Number:
            ufunc(np.power, ops[0], ("c", float(p)))
        else:
            raise NotImplementedError(f"power with a symbolic exponent: {e}")
    elif type(e) in _UNARY:
        ufunc(_UNARY[type(e)], ops[0])
    elif type(e) in _RELATIONS:
        ufunc(_RELATIONS[type(e)], ops[0], ops[1])
    elif isinstance(e, sp.Not):
        ufunc(np.logical_not, ops[0])
    elif isinstance(e, sp.ITE):
        steps.append(("fill", None, [ops[2]], dest))
        steps.append(("copyto", None, [ops[0], ops[1]], dest))
    elif isinstance(e, sp.Piecewise):
        pairs = list(zip(ops[0::2], ops[1::2]))
        has_default = e.args[-1][1] == sp.true
        steps.append(("fill", None, [pairs[-1][0] if has_default else ("c", float("nan"))], dest))
        for v, c in reversed(pairs[:-1] if has_default else pairs):
            steps.append(("copyto", None, [v, c], dest))
    else:
        raise NotImplementedError(f"cannot evaluate {type(e).__name__} in place")
