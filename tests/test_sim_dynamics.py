"""Softmax-policy dynamics: reproducibility, the softmax chain rule, sweeps that resume, errors."""
import json

import numpy as np
import pytest

from drpo_analysis import cli

from drpo_analysis.core import losses_np
from drpo_analysis.core.divergences import sampled_approximations, topk_columns, topk_divergence, topk_ids
from drpo_analysis.sim import dynamics as sd
from drpo_analysis.util.stats import bootstrap_ci
from drpo_analysis.sim.vocab import Vocabulary

TINY = sd.DynamicsSettings(methods=("pg_is", "drpo", "dppo_binary_tv"), seeds=2, prompts=3,
                           length=2, group=4, vocab=Vocabulary(V=64), steps=12, updates=2, lr=2.0)


def test_bitwise_reproducible_and_seed_dependent():
    a, b = sd.run(TINY), sd.run(TINY)
    for k in sd.METRICS:
        assert np.array_equal(a["history"][k], b["history"][k]), k
    c = sd.run(sd.DynamicsSettings(**{**TINY.__dict__, "seed": 1}))
    assert not np.array_equal(a["history"]["reward"], c["history"]["reward"])


def test_history_shapes_and_ranges():
    r = sd.run(sd.DynamicsSettings(**{**TINY.__dict__, "staleness": 2, "shared_dim": 3}))
    h = r["history"]
    assert h["reward"].shape == (12, 3, 2)
    assert np.all((h["reward"] >= 0) & (h["reward"] <= 1))
    assert np.all((h["tv"] >= 0) & (h["tv"] <= 1)) and np.all(h["entropy"] >= 0)
    assert np.all(h["masked"][:, 0] == 0)            # PG-IS never masks


def test_methods_share_rollouts_on_the_first_step():
    h = sd.run(TINY)["history"]
    assert np.all(h["reward"][0] == h["reward"][0, :1])   # common random numbers, same start


def test_logit_gradient_is_the_softmax_chain_rule():
    """Σ_g ∂J/∂ℓ_g · ∂ℓ_g/∂z against central finite differences of Σ_g J(log softmax(z)_a)."""
    rng = np.random.default_rng(0)
    V, G = 7, 5
    z = rng.standard_normal(V)
    tok = rng.integers(0, V, size=G)
    ell_mu = np.log(np.full(G, 1.0 / V) * rng.uniform(0.5, 1.5, G))
    adv = rng.standard_normal(G)

    def J(zz):
        lp = zz - np.log(np.exp(zz).sum())
        return losses_np.objective("drpo", lp[tok], ell_mu, adv, params={"delta": 0.3}).sum()

    lp = z - np.log(np.exp(z).sum())
    specs = [sd.MethodSpec.parse("drpo:delta=0.3")]
    g = sd.token_gradients(specs, lp[tok][None], ell_mu[None], adv[None])[0]
    got = sd.logit_gradient(g[None], np.exp(lp)[None].astype(np.float32), tok[None])[0]
    h = 1e-6
    fd = np.array([(J(z + h * e) - J(z - h * e)) / (2 * h) for e in np.eye(V)])
    np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-5)


def test_sweep_writes_incrementally_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "s.jsonl"
    pts = sd.grid({"lr": [1.0, 3.0]})
    first = sd.sweep(TINY, pts, out)
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    out.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])   # interrupted mid-write
    calls = []
    real = sd.run
    monkeypatch.setattr(sd, "run", lambda s, **k: calls.append(s.lr) or real(s, **k))
    again = sd.sweep(TINY, pts, out)
    assert calls == [3.0]                                   # only the unfinished point reran
    assert json.dumps(again) == json.dumps(first)


def test_bootstrap_ci_brackets_the_mean():
    x = np.random.default_rng(0).normal(size=(3, 20))
    m, lo, hi = bootstrap_ci(x)
    assert np.all(lo <= m) and np.all(m <= hi)
    m, lo, hi = bootstrap_ci(np.ones((2, 5)))
    assert np.all(lo == 1) and np.all(hi == 1)


@pytest.mark.parametrize("kw, match", [
    (dict(lr=-1.0), "lr"), (dict(methods=("nope",)), "unknown method"),
    (dict(methods=("dppo_topk_tv:K=64",)), "K must be in"), (dict(methods=("dppo_topk_kl:K=0",)), "K must be"),
    (dict(methods=("drpo:K=3",)), "K"), (dict(methods=("drpo:delta=-1",)), "delta"),
    (dict(methods=("drpo:delta",)), "key=value"), (dict(group=1), "group"),
    (dict(mismatch="fp9"), "unknown part 'fp9'"), (dict(methods=("drpo", "drpo")), "distinct"),
    (dict(seeds=100000, vocab=Vocabulary(V=151936)), "exceeds"),
])
def test_bad_settings_raise_naming_the_argument(kw, match):
    with pytest.raises(ValueError, match=match):
        sd.DynamicsSettings(**{**TINY.__dict__, **kw})


def test_unknown_sweep_axis():
    with pytest.raises(ValueError, match="unknown sweep axis"):
        sd.grid({"learning_rate": [1]})


def test_cli_dynamics_json(capsys):
    rc = cli.main(["simulate", "dynamics", "--steps", "3", "--V", "64", "--prompts", "2",
                   "--seeds", "2", "--method", "pg_is", "--method", "drpo:delta=0.2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [s["method"] for s in out["summary"]] == ["pg_is", "drpo:delta=0.2"]
    with pytest.raises(SystemExit) as e:
        cli.main(["simulate", "dynamics", "--sweep", "lr"])
    assert e.value.code == 2


def test_collapse_is_recorded_once_and_consistently():
    s = sd.DynamicsSettings(**{**TINY.__dict__, "shared_dim": 2, "lr": 20.0, "steps": 40,
                               "seeds": 6, "prompts": 6, "mismatch": "noise=1.0"})
    r = sd.run(s)
    cs, col = r["collapse_step"], r["history"]["collapsed"]
    assert (cs >= 0).any()                      # this setting does collapse some runs
    for m in range(cs.shape[0]):
        for k in range(cs.shape[1]):
            assert (col[:, m, k] == (np.arange(40) >= cs[m, k]) * (cs[m, k] >= 0)).all()


# ------------------------------------------------------------ methods with extra inputs ----

EXTRA_METHODS = ("dppo_topk_tv", "dppo_topk_kl", "gspo_token", "gspo_seq")


def test_methods_with_extras_run_and_are_reproducible():
    s = sd.DynamicsSettings(**{**TINY.__dict__, "methods": EXTRA_METHODS + ("dppo_topk_tv:K=3",)})
    a, b = sd.run(s), sd.run(s)
    for k in sd.METRICS:
        assert np.array_equal(a["history"][k], b["history"][k]), k
        assert np.isfinite(a["history"][k]).all(), k
    assert a["history"]["reward"].shape == (12, 5, 2)
    assert a["history"]["masked"][:, 2:4].max() > 0   # GSPO's 3e-4 clip range cuts tokens


def test_extra_methods_leave_the_other_methods_bitwise_unchanged():
    """Extras consume no random numbers and the per-token methods' path is untouched: appending
    Top-K and GSPO methods to a run changes nothing for the methods already in it."""
    base = sd.DynamicsSettings(**{**TINY.__dict__, "methods": ("ppo_clip", "drpo"), "staleness": 1})
    more = sd.DynamicsSettings(**{**base.__dict__, "methods": ("ppo_clip", "drpo") + EXTRA_METHODS})
    a, b = sd.run(base), sd.run(more)
    for k in sd.METRICS:
        assert np.array_equal(a["history"][k], b["history"][k][:, :2]), k


def test_gspo_on_one_token_responses_is_the_token_clipped_ratio():
    """|y| = 1: the sequence ratio is the token ratio r and seq_len = 1, so GSPO-token and the
    sequence form take PPO-clip's steps (same ε)."""
    eps = "eps_low=0.2,eps_high=0.28"
    s = sd.DynamicsSettings(**{**TINY.__dict__, "length": 1, "staleness": 1, "methods": (
        "ppo_clip", f"gspo_token:{eps}", f"gspo_seq:{eps}")})
    h = sd.run(s)["history"]
    for k in sd.METRICS:
        np.testing.assert_allclose(h[k][:, 1:], np.broadcast_to(h[k][:, :1], h[k][:, 1:].shape),
                                   rtol=1e-6, atol=1e-9, err_msg=k)
    assert h["masked"].max() > 0                     # the clip was active, not a vacuous match


def _state(V=40, S=2, P=3, L=2, G=5, seed=0):
    rng = np.random.default_rng(seed)
    lmu = np.log(rng.dirichlet(np.full(V, 0.3), (S, P * L))).astype(np.float32)   # [S, C, V]
    lp = np.log(rng.dirichlet(np.full(V, 0.3), (S, P * L))).astype(np.float32)
    tok = rng.integers(0, V, (S, P * L, G))
    ell = np.take_along_axis(lp, tok, -1).astype(np.float64)
    ell_mu = np.take_along_axis(lmu, tok, -1).astype(np.float64)
    return lmu, lp, tok, ell, ell_mu


def _topk_extras(name, k, lmu, lp, tok, ell, ell_mu, L):
    S, C, V = lmu.shape
    top = topk_ids(lmu.reshape(-1, V), k)
    mu_cols = topk_columns(lmu.reshape(-1, V), top, tok.reshape(S * C, -1)).reshape(*tok.shape, -1)
    return sd.method_extras(sd.MethodSpec.parse(f"{name}:K={k}"), ell, ell_mu, L, lp, mu_cols, top, tok)


def test_topk_with_k_v_minus_1_is_the_full_vocabulary_divergence():
    """K = V − 1: top-K(μ) ∪ {sampled} ∪ {rest} splits the vocabulary into singletons, so the
    Top-K TV and KL(μ‖π) are the full ones of each context."""
    lmu, lp, tok, ell, ell_mu = _state()
    V = lmu.shape[-1]
    x = _topk_extras("dppo_topk_tv", V - 1, lmu, lp, tok, ell, ell_mu, 2)
    assert x["topk_logp"].shape == tok.shape + (V,)
    mu, pi = np.exp(lmu.astype(np.float64)), np.exp(lp.astype(np.float64))
    tv = 0.5 * np.abs(mu - pi).sum(-1)                                    # [S, C]
    kl = (mu * (np.log(mu) - np.log(pi))).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):   # −inf columns: sampled already listed
        got_tv = topk_divergence(x["topk_logp_mu"], x["topk_logp"], "tv")    # [S, C, G]
        got_kl = topk_divergence(x["topk_logp_mu"], x["topk_logp"], "kl")
    np.testing.assert_allclose(got_tv, np.broadcast_to(tv[..., None], got_tv.shape), atol=1e-7)
    np.testing.assert_allclose(got_kl, np.broadcast_to(kl[..., None], got_kl.shape), atol=1e-6)


def test_topk_extras_agree_with_sampled_approximations():
    lmu, lp, tok, ell, ell_mu = _state(V=300, seed=1)
    S, C, G = tok.shape
    x = _topk_extras("dppo_topk_kl", 20, lmu, lp, tok, ell, ell_mu, 2)
    ref = sampled_approximations(lmu.reshape(S * C, -1), lp.reshape(S * C, -1), tok.reshape(S * C, G))
    for kind in ("tv", "kl"):
        with np.errstate(invalid="ignore"):
            got = topk_divergence(x["topk_logp_mu"], x["topk_logp"], kind)
        np.testing.assert_allclose(got, ref[f"topk_{kind}"].reshape(S, C, G), atol=1e-6)


def test_gspo_extras_are_per_response_means():
    lmu, lp, tok, ell, ell_mu = _state()
    x = sd.method_extras(sd.MethodSpec.parse("gspo_seq"), ell, ell_mu, 2)
    # contexts are prompt-major: (p, t) = c // L, c % L; response (p, g) spans t = 0..L-1
    want = 0.5 * ((ell - ell_mu)[:, 0::2] + (ell - ell_mu)[:, 1::2])    # [S, P, G]
    assert np.allclose(x["seq_log_ratio"][:, 0::2], want) and np.allclose(x["seq_log_ratio"][:, 1::2], want)
    assert np.all(x["seq_len"] == 2.0)
    assert sd.method_extras(sd.MethodSpec.parse("drpo"), ell, ell_mu, 2) is None


def test_topk_ids_chunked_equals_one_block():
    lmu = _state(V=97)[0].reshape(-1, 97)
    a = np.sort(topk_ids(lmu, 7), -1)
    b = np.sort(topk_ids(lmu, 7, chunk_bytes=8 * 97), -1)               # one row per block
    assert np.array_equal(a, b)
    assert np.array_equal(a, np.sort(np.argsort(-lmu, -1, kind="stable")[:, :7], -1))


def test_cli_dynamics_with_extra_methods(capsys):
    rc = cli.main(["simulate", "dynamics", "--method", "dppo_topk_tv", "--method", "gspo_token",
                   "--steps", "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [s["method"] for s in out["summary"]] == ["dppo_topk_tv", "gspo_token"]
    assert all(np.isfinite(s["final_reward_pi"]) for s in out["summary"])
