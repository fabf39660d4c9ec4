"""Long-tailed vocabularies, mismatch models and the per-bucket statistics of sampled tokens."""
import json

import ml_dtypes
import numpy as np
import pytest

from drpo_analysis import cli
from drpo_analysis.core.mismatch import MismatchSpec
from drpo_analysis.sim import vocab as sv

SMALL = sv.Vocabulary(V=4096)


def _settings(**kw):
    base = dict(vocab=SMALL, contexts=12, samples=16, mismatches=("bf16", "fp8_e4m3", "noise=0.1"))
    return sv.VocabSettings(**{**base, **kw})


def test_same_seed_same_output_bitwise():
    a, b = sv.simulate(_settings()), sv.simulate(_settings())
    assert json.dumps(a["results"]) == json.dumps(b["results"])
    for k in a["scatter"]:
        assert np.array_equal(a["scatter"][k]["mu"], b["scatter"][k]["mu"])
    c = sv.simulate(_settings(seed=1))
    assert json.dumps(a["results"]) != json.dumps(c["results"])


def test_approximations_never_exceed_exact_across_mismatch_models():
    res = sv.simulate(_settings(mismatches=sv.VocabSettings.mismatches))
    for e in res["results"]:
        for name, a in e["approximation"].items():
            assert a["violations"] == 0, (e["mismatch"], name, a["max_excess"])


def test_bucket_counts_cover_every_token():
    e = sv.simulate(_settings(mismatches=("bf16",)))["results"][0]
    assert sum(b["count"] for b in e["buckets"]) == e["n_tokens"] == 12 * 16
    assert 0.0 <= e["frac_mu_le_0.01"] <= 1.0


def test_top1_mass_is_the_beta_draw():
    vocab = sv.Vocabulary(V=1000, top1_a=2.0, top1_b=2.0)
    z = sv.context_logits(vocab, np.random.default_rng(5), 6)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = np.random.default_rng(5).beta(2.0, 2.0, size=6)
    np.testing.assert_allclose(np.sort(p, 1)[:, -1], want, rtol=1e-5)
    assert np.allclose(z.max(1), vocab.logit_max)


def test_rounding_models_match_ml_dtypes_and_per_row_scaling():
    rng = np.random.default_rng(0)
    z = sv.context_logits(SMALL, rng, 3)
    out = np.empty_like(z)
    sv.apply_mismatch(MismatchSpec("bf16"), z, out, rng)
    assert np.array_equal(out, z.astype(ml_dtypes.bfloat16).astype(np.float32))
    sv.apply_mismatch(MismatchSpec("fp8_e4m3"), z, out, rng)
    assert np.all(np.isfinite(out))
    big = np.abs(z) > np.abs(z).max(1, keepdims=True) / 8       # normal fp8 range after scaling
    rel = np.abs(out - z)[big] / np.abs(z)[big]
    assert rel.max() <= 2.0 ** -4 + 1e-6                          # e4m3: 3 mantissa bits
    assert not np.array_equal(out, z)


def test_truncation_keeps_top_k_and_top_p_sets():
    z = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    t = z.copy()
    sv.truncate(t, 2, 1.0)
    assert np.isfinite(t).sum() == 2 and np.isfinite(t[0, :2]).all()
    t = z.copy()
    sv.truncate(t, 0, 0.8)            # 0.5 + 0.3 reaches 0.8: two tokens
    assert np.isfinite(t).sum() == 2
    t = z.copy()
    sv.truncate(t, 0, 0.81)
    assert np.isfinite(t).sum() == 3


def test_bucket_table_masks_hand_examples():
    # μ = 0.4 → π = 0.6: Δ = 0.2 > δ = 0.15, r = 1.5 > 1.28 (both mask for Â > 0);
    # μ = 5e-4 → π = 1e-3: r = 2 (PPO masks for Â > 0), Δ = 5e-4 (DPPO does not).
    rows = sv.bucket_table(np.log([0.6, 1e-3]), np.log([0.4, 5e-4]))
    by = {r["bucket"]: r for r in rows}
    hi, lo = by["(0.1, 0.5]"], by["(0.0001, 0.001]"]
    assert hi["masked_ppo_clip_pos"] == 1 and hi["masked_dppo_binary_tv_pos"] == 1
    assert lo["masked_ppo_clip_pos"] == 1 and lo["masked_dppo_binary_tv_pos"] == 0
    assert hi["masked_dppo_binary_tv_neg"] == 0
    # DRPO weight 1 − sΔ/δ: δ = 12.5 ⇒ 1 − 0.2/12.5; δ = 0.15 ⇒ 1 − 0.2/0.15.
    assert hi["w_drpo_pos_q50"] == pytest.approx(1 - 0.2 / 12.5)
    assert hi["w_drpo_d0.15_pos_q50"] == pytest.approx(1 - 0.2 / 0.15)


@pytest.mark.parametrize("spec, match", [
    ("bogus", "unknown part 'bogus'"), ("noise", "noise needs a value"), ("noise=x", "not a number"),
    ("bf16+top_q=3", "unknown part 'top_q=3'"), ("noise=-1", "noise must lie in"),
    ("temperature=0", "temperature must lie in"), ("bf16+top_p=1.5", "top_p must lie in"),
    ("fp8", "unknown part 'fp8'"), ("bf16+stale=1", "unknown part"), ("noise=1+noise=2", "noise given twice"),
])
def test_bad_mismatch_specs_name_the_problem(spec, match):
    with pytest.raises(ValueError, match=match):
        sv.MISMATCH.parse(spec)


@pytest.mark.parametrize("kw, match", [
    (dict(V=1), "V"), (dict(zipf=-1.0), "zipf"), (dict(temperature=0.0), "temperature"),
])
def test_bad_vocabulary_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        sv.Vocabulary(**kw)


def test_bad_settings_and_bucket_inputs():
    with pytest.raises(ValueError, match="contexts"):
        sv.VocabSettings(contexts=0)
    with pytest.raises(ValueError, match="mismatches"):
        sv.VocabSettings(mismatches=())
    with pytest.raises(ValueError, match="ell_mu contains NaN"):
        sv.bucket_table([-1.0], [np.nan])
    with pytest.raises(ValueError, match="edges"):
        sv.bucket_table([-1.0], [-1.0], edges=(0.5, 0.1))


def test_cli_vocab_json_and_bad_usage(capsys):
    rc = cli.main(["simulate", "vocab", "--V", "2048", "--contexts", "4", "--samples", "8",
                   "--mismatch", "bf16", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["results"][0]["mismatch"] == "bf16"
    assert cli.main(["simulate", "vocab", "--mismatch", "fp7"]) == 2
    assert "unknown part 'fp7'; accepted: none | bf16" in capsys.readouterr().err
