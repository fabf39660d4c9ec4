"""The machine-checked claims in proofs/ and the machinery that runs them.

Every proof must run; the claims the project asserts must be proved; and the comparison
functions the proofs rely on must be able to FAIL (a wrong weight, a wrong bound, a wrong
identity is detected), otherwise "proved" would mean nothing.
"""
import json
import random
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from drpo_analysis import cli

from drpo_analysis.claims import proving

from drpo_analysis.core import symbolic
from drpo_analysis.core.exact_sequences import random_model

CLAIMS = {c.id: c for c in proving.discover()}
# Paper / explainer claims the project does not assert, and the verdict the checks reach.
PAPER_CLAIM_STATUS = {"explainer_weight_near_one_then_0_4": "failed", "explainer_dppo_zero_at_1_5_delta": "proved",
                      "explainer_masked_token_stays": "failed"}
# Claims checked on samples only (random points + an adversarial search): never "proved".
SAMPLED = {"autograd_matches_derived": proving.NO_COUNTEREXAMPLE, "weight_matches_gradient_exact": proving.NO_COUNTEREXAMPLE}
ISSUE_CLAIMS = {  # every claim docs/claims.md#proofs lists has a proof file
    "autograd_matches_derived", "weight_matches_gradient_exact", "drpo_weight_formula", "drpo_weight_bounds",
    "drpo_zero_crossing", "drpo_stationary_point", "drpo_attenuation", "drpo_weight_lipschitz",
    "clip_mask_weight_jumps", "spo_weight_unbounded", "spo_stationary_point", "drpo_penalty_expectation_l2",
    "spo_penalty_expectation_chi2", "dppo_tv_identity", "dppo_partition_divergences_le_full", "pinsker",
    "dppo_theorem_3_1", "dppo_theorem_3_2", "mask_drpo_jump", "drpo_no_abs_adv_unbounded"}


def test_issue_claims_present_and_metadata():
    assert ISSUE_CLAIMS <= set(CLAIMS)
    for c in CLAIMS.values():
        assert c.statement and c.source and c.method
        assert any(kind in c.method for kind in proving.METHODS), (c.id, c.method)
    assert {c.id for c in CLAIMS.values() if not c.asserted} == set(PAPER_CLAIM_STATUS)


@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
def test_claim(claim_id):
    run = proving.run_claim(CLAIMS[claim_id], timeout=120)
    expected = PAPER_CLAIM_STATUS.get(claim_id) or SAMPLED.get(claim_id, "proved")
    assert run.result.status == expected, run.result.evidence
    if run.result.status == "failed":
        assert run.result.counterexample
    json.dumps(run.as_dict(), default=str)  # JSON-able for `prove --json`


# --- the checks can fail -------------------------------------------------------------------------

def test_first_mismatch_detects_and_locates():
    x = np.array([1.0, 2.0, 3.0])
    assert proving.first_mismatch(x, x * (1 + 1e-12), rtol=1e-9, atol=0) is None
    bad = proving.first_mismatch(x, x + np.array([0, 1e-6, 0]), rtol=1e-9, atol=1e-9, inputs={"pi": x / 10})
    assert bad["index"] == 1 and bad["pi"] == pytest.approx(0.2)
    assert proving.first_mismatch(x, np.array([1.0, np.nan, 3.0]), rtol=1e-9, atol=1e-9)["index"] == 1
    assert proving.first_mismatch(np.array([np.inf]), np.array([np.inf]), rtol=0, atol=0) is None


def test_wrong_numpy_weight_is_detected():
    """The exact comparison the 19-method proof uses catches a DRPO weight off by 1e-6 relative."""
    from drpo_analysis.core import losses_np

    mod = CLAIMS["autograd_matches_derived"].module

    def wrong(name, *a, **k):
        return losses_np.gradient_weight(name, *a, **k) * (1 + 1e-6)
    params = {"delta": 0.15}
    n, err, bad = mod.compare_method("drpo", params, np.random.default_rng(0), 200, numpy_weight=wrong)
    assert bad is not None and bad["face"] == "numpy" and bad["method"] == "drpo"
    n, err, bad = mod.compare_method("drpo", params, np.random.default_rng(0), 200)
    assert bad is None and n == 200


def test_wrong_symbolic_weight_is_detected(monkeypatch):
    mod = CLAIMS["weight_matches_gradient_exact"].module
    point = (Fraction(3, 10), Fraction(1, 2), Fraction(-2))
    good = mod.residual_at("drpo", {"delta": 12.5})(point, {})
    assert proving.is_zero_exact(good)
    true_weight = symbolic.weight
    monkeypatch.setattr(symbolic, "weight", lambda name, *a: true_weight(name, *a) + sp.Rational(1, 10**12))
    assert not proving.is_zero_exact(mod.residual_at("drpo", {"delta": 12.5})(point, {}))


def test_stationary_maximum_detects_wrong_point_and_curvature():
    right_star = lambda v, s: v["mu"] + s * v["delta"]  # noqa: E731
    right_d2 = lambda v, s: -v["a"] / (v["mu"] * v["delta"])  # noqa: E731
    out, fail = proving.stationary_maximum("drpo", right_star, right_d2)
    assert fail is None and set(out) == {"s=+1", "s=-1"}
    # SPO's optimum μ(1 + sδ) is not DRPO's, and a curvature off by a factor 2 is caught too
    _, fail = proving.stationary_maximum("drpo", lambda v, s: v["mu"] * (1 + s * v["delta"]), right_d2)
    assert fail is not None and fail.status == "failed"
    _, fail = proving.stationary_maximum("drpo", right_star, lambda v, s: 2 * right_d2(v, s))
    assert fail is not None and fail.status == "failed"


def test_interval_sign_certifies_and_refuses_zero():
    assert proving.interval_sign(sp.log(3) - sp.Rational(10986, 10000)) == 1
    assert proving.interval_sign(sp.log(3) - sp.Rational(10987, 10000)) == -1
    with pytest.raises(ValueError):
        proving.interval_sign(sp.log(4) - 2 * sp.log(2) + sp.Rational(0))


def test_theorem_checks_detect_wrong_statements():
    rng = random.Random(5)
    models = [random_model(rng, 2, 3) for _ in range(40)]
    # Thm 3.1 without the correction term is false on some instance.
    assert any(m.J(m.pi) - m.J(m.mu) != m.surrogate for m in models)
    # Thm 3.2 (a) with a 10× smaller constant is violated on some instance.
    thm = CLAIMS["dppo_theorem_3_2"].module
    assert max(thm.ratio(m, "a") for m in models) * 10 > 1
    # the adversarial search reaches the tight constant of (b) (ratio ≈ 1 with constant 2)
    assert thm.search_ratio("b", "signed", 2, 2, 3, 32, 0)[0] > 0.95


def test_certificate_checker_rejects_wrong_steps():
    x, y = sp.symbols("x y", nonnegative=True)
    facts = {"x": x, "y": y, "x-y": x - y}
    assert proving.nonnegative_certificate(x * y + 2 * x, [("x", "y"), ("2", "x")], facts) is None
    assert proving.nonnegative_certificate(x * y - x, [("x", "y")], facts) is not None       # residual −x
    assert proving.nonnegative_certificate(x, [("-1", "y"), ("x",), ("y",)], facts) is not None  # negative coefficient
    assert proving.nonnegative_certificate(x, [("z",)], facts) is not None                   # unknown fact


def test_induction_steps_all_check_and_a_wrong_constant_is_caught():
    from dataclasses import replace

    from drpo_analysis.claims import horizon_induction as h

    done, bad = h.check_steps()
    assert not bad and len(done) == len(h.STEPS) >= 25
    # (b) with half the constant, ρ/2 in place of ρ: the per-action certificate no longer holds
    step = next(s for s in h.lemmas("(b)") if s.case.startswith("A"))
    wrong = replace(step, rhs=step.rhs.subs(h.M, (h.M + h.m) / 2))
    assert wrong.check() is not None
    # (a)'s node step with B_k = ρ k(k − 1) D²/2 fails as well
    node = next(s for s in h.lemmas("(a)") if s.case == "node")
    assert replace(node, rhs=node.rhs / 2).check() is not None


def test_recursions_equal_definitions_exactly():
    rng = random.Random(11)
    for v, t in ((2, 1), (2, 3), (3, 2)):
        for _ in range(5):
            m = random_model(rng, v, t)
            r = m.by_recursion[()]
            assert (r["Vpi"] - r["Vmu"], r["L"], r["Delta"], r["Dbar"]) == (
                m.J(m.pi) - m.J(m.mu), m.surrogate, m.correction, m.expected_tv_sum)


def test_tight_family_ratio_and_violation_below_the_constant():
    mod = CLAIMS["dppo_theorem_3_2b_tight_constants"].module
    for rewards, c in mod.CONSTANTS.items():
        for n in (2, 10, 1000):
            m = mod.family(n, rewards)
            assert m.correction / (c * m.xi * m.expected_tv_sum) == Fraction(n * n - n, n * n + 2 * n - 2)
        m = mod.family(1000, rewards, horizon=3)
        assert m.correction > Fraction(c) * Fraction(99, 100) * m.xi * m.expected_tv_sum  # c·0.99 is violated
        assert m.correction <= c * m.xi * m.expected_tv_sum                              # c holds


def test_gradient_searches_find_a_known_maximum():
    import torch

    threads = torch.get_num_threads()
    best, x = proving.batched_ascent(lambda t: -((t - 0.3) ** 2).sum(-1), np.zeros((4, 2)) + np.arange(4)[:, None],
                                     steps=400, lr=0.05)
    assert best > -1e-6 and np.allclose(x, 0.3, atol=1e-3)
    assert torch.get_num_threads() == threads          # the search's single-thread setting is undone
    best, x = proving.fd_ascent(lambda a: -np.abs(a - 0.3).sum(-1), np.ones((3, 2)), steps=60, lr=0.05,
                                lower=[-1, -1], upper=[1, 1])
    assert best > -0.1 and np.all(np.abs(x) <= 1)     # within the bounds


def test_one_sided_limits_of_piecewise_are_branchwise():
    """SymPy's own limit returns (1, 1) here; the helper must give the jump (1, 0)."""
    r = sp.Symbol("r", real=True)
    e = sp.Piecewise((0, r > sp.Rational(32, 25)), (1, True))
    assert symbolic.one_sided_limits(e, r, sp.Rational(32, 25)) == (1, 0)
    assert symbolic.rational_probe(e, r, sp.Rational(32, 25)) == (1, 0)


# --- runner and command ------------------------------------------------------------------------

def _write_claims(tmp_path, bodies):
    for name, (asserted, body) in bodies.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
            from drpo_analysis.claims import proving
            ID = {name!r}
            STATEMENT = "test claim"
            SOURCE = "tests"
            METHOD = "symbolic"
            ASSERTED = {asserted}
            def check():
            {textwrap.indent(textwrap.dedent(body), '    ')}
            """))
    return tmp_path


def test_runner_captures_errors_timeouts_and_bad_results(tmp_path):
    d = _write_claims(tmp_path, {
        "crashes": (True, "raise RuntimeError('boom')"),
        "sleeps": (True, "import time; time.sleep(5)"),
        "returns_junk": (True, "return 42"),
        "ok": (True, "return proving.proved('fine')"),
    })
    runs = {r.claim.id: r for r in proving.run_claims(proving.discover(d), timeout=0.5)}
    assert runs["crashes"].result.status == "error" and "boom" in runs["crashes"].result.evidence
    assert runs["sleeps"].result.status == "error" and "timed out" in runs["sleeps"].result.evidence
    assert runs["returns_junk"].result.status == "error"
    assert runs["ok"].result.status == "proved" and runs["ok"].seconds >= 0
    with pytest.raises(ValueError):
        proving.ProofResult("failed", "no counterexample")
    with pytest.raises(ValueError):
        proving.discover(d, ["nope"])


def test_prove_exit_codes(tmp_path, capsys):
    d = _write_claims(tmp_path, {
        "paper_claim_fails": (False, "return proving.failed('wrong', {'x': 1})"),
        "project_claim_ok": (True, "return proving.proved('fine')"),
    })
    assert cli.main(["prove", "--dir", str(d), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {c["id"]: c["status"] for c in out["claims"]} == {"paper_claim_fails": "failed",
                                                             "project_claim_ok": "proved"}
    assert set(out["claims"][0]) >= {"id", "statement", "status", "evidence", "seconds"}
    _write_claims(tmp_path, {"project_claim_fails": (True, "return proving.failed('wrong', {'x': 1})")})
    assert cli.main(["prove", "--dir", str(d)]) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli.main(["prove", "--dir", str(d), "no_such_claim"])
    assert exc.value.code == 2


def test_reuse_returns_remembered_runs(tmp_path):
    body = "import builtins; builtins._drpo_calls = getattr(builtins, '_drpo_calls', 0) + 1; return proving.proved('x')"
    d = _write_claims(tmp_path, {"counts": (True, body)})
    import builtins
    first = proving.run_claims(proving.discover(d))
    again = proving.run_claims(proving.discover(d), reuse=True)
    assert again[0] is first[0] and builtins._drpo_calls == 1
    proving.run_claims(proving.discover(d))
    assert builtins._drpo_calls == 2
