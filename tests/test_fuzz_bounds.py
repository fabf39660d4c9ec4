"""The hyperparameter sweep and a framework's separate bound fields: equal bounds are kept equal
in the regular draws of a framework-shaped target and drawn apart once where its configuration
carries them in separate fields, so reading one field for both deviates, while an implementation
of a symmetric clip only (one that raises on unequal bounds, or declares it) is not reported."""
import importlib.util

import numpy as np
import pytest
import torch

from drpo_analysis import cli
from drpo_analysis.core import methods
from drpo_analysis.fuzz import adapters, fuzz
from drpo_analysis.fuzz.checks import draw_params

TIED = {"eps_low": 0.2, "eps_high": 0.2}
SEEDS = range(3)


def _need(pkg):
    if importlib.util.find_spec(pkg) is None:
        pytest.skip(f"{pkg} is not installed (make test installs the peers extra)")


def _ppo(log_ratio, adv, low, high):
    """−min(r Â, clip(r, 1 − low, 1 + high) Â) per token [B, T], log r clamped to ±20 (declared)."""
    ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - low, 1 + high) * adv)


def _masked_mean(x, mask):
    return torch.where(mask.bool(), x, torch.zeros_like(x)).sum() / mask.sum().clamp(min=1)


# verl's signature: the bounds from the ActorConfig
def verl_fallback(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None):
    low = config.clip_ratio_low if config.clip_ratio_low is not None else config.clip_ratio
    high = config.clip_ratio_high if config.clip_ratio_high is not None else config.clip_ratio
    return _masked_mean(_ppo(log_prob - old_log_prob, advantages, low, high), response_mask)


def verl_one_field(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None):
    eps = config.clip_ratio
    return _masked_mean(_ppo(log_prob - old_log_prob, advantages, eps, eps), response_mask)


def verl_symmetric_only(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None):
    if config.clip_ratio_low != config.clip_ratio_high:
        raise NotImplementedError("this loss implements a symmetric clip only: set clip_ratio_low = clip_ratio_high")
    return verl_one_field(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode, config)


# TRL's shape: the bounds as keywords (epsilon is the lower bound, epsilon_high the upper)
def trl_epsilon_for_both(per_token_logps, old_per_token_logps, advantages, completion_mask, epsilon=0.2,
                         epsilon_high=0.28):
    return _masked_mean(_ppo(per_token_logps - old_per_token_logps, advantages[:, None], epsilon, epsilon), completion_mask)


def trl_epsilon_only(per_token_logps, old_per_token_logps, advantages, completion_mask, epsilon=0.2):
    return _masked_mean(_ppo(per_token_logps - old_per_token_logps, advantages[:, None], epsilon, epsilon), completion_mask)


def _fuzz(fn, adapter, seed, **options):
    t = adapters.make_target(adapter, fn, method="ppo_clip", params=TIED, log_ratio_clamp=20, **options)
    return fuzz(t, seed=seed, checks=["hyperparameters"])


def test_draw_params_splits_only_the_named_pair():
    m, rng = methods.get("dual_clip"), np.random.default_rng(0)
    around = {"eps_low": 0.2, "eps_high": 0.2, "dual_clip_c": 3.0}
    for _ in range(10):
        kept = draw_params(rng, m, around, keep_ties=True)
        split = draw_params(rng, m, around, keep_ties=True, split=frozenset({"eps_low", "eps_high"}))
        assert kept["eps_low"] == kept["eps_high"] and split["eps_low"] != split["eps_high"]


@pytest.mark.parametrize("seed", SEEDS)
def test_verl_one_field_for_both_bounds_deviates_with_the_fields_named(seed):
    _need("verl")
    rep = _fuzz(verl_one_field, "verl", seed)
    assert rep.verdict == "deviates", rep.text()
    f = rep.findings[0]
    assert f.check == "hyperparameters" and f.sub_check.startswith("bounds drawn apart")
    assert "reads one field for both bounds (config.clip_ratio" in f.fix and "config.clip_ratio_high" in f.fix


@pytest.mark.parametrize("seed", SEEDS)
def test_verl_fallback_conforms_with_the_bounds_drawn_apart(seed):
    _need("verl")
    rep = _fuzz(verl_fallback, "verl", seed)
    assert rep.verdict == "conforms with declared design choices", rep.text()
    assert "bounds drawn apart (config.clip_ratio_low" in rep.checks[0]["detail"]


def test_symmetric_only_that_raises_on_unequal_bounds_is_a_note():
    _need("verl")
    rep = _fuzz(verl_symmetric_only, "verl", 0)
    assert rep.verdict == "conforms with declared design choices" and not rep.findings, rep.text()
    assert rep.checks[0]["detail"].endswith("refused (raised)")
    assert any(n["note"].startswith("symmetric bounds only") and not n["declared"] for n in rep.notes)


def test_declared_symmetric_clip_keeps_the_bounds_equal():
    _need("verl")
    rep = _fuzz(verl_one_field, "verl", 0, symmetric_clip=True)
    assert rep.verdict == "conforms with declared design choices", rep.text()
    assert rep.declared["symmetric_clip"] is True
    assert "eps_low = eps_high kept equal (declared symmetric_clip)" in rep.checks[0]["detail"]


def test_declared_symmetric_clip_with_unequal_bounds_is_bad_usage(capsys, tmp_path):
    _need("verl")
    with pytest.raises(ValueError, match="symmetric_clip declared, but eps_low=0.2 != eps_high=0.28"):
        adapters.make_target("verl", verl_one_field, method="ppo_clip", symmetric_clip=True)
    path = tmp_path / "sym.py"
    path.write_text("def verl_one_field(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode='token-mean',"
                    " config=None):\n    raise AssertionError('never called')\n")
    code = cli.main(["fuzz", f"{path}:verl_one_field", "--method", "ppo_clip", "--param", "eps_high=0.28",
                     "--option", "symmetric_clip=true", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "symmetric_clip declared" in err[0]


def test_trl_epsilon_for_both_deviates_and_epsilon_only_is_kept_symmetric():
    _need("trl")
    bad = _fuzz(trl_epsilon_for_both, "trl", 0, agg="token-mean")
    assert bad.verdict == "deviates", bad.text()
    assert "(epsilon or epsilon_low" in bad.findings[0].fix
    one = _fuzz(trl_epsilon_only, "trl", 0, agg="token-mean")
    assert one.verdict == "conforms with declared design choices", one.text()
    assert "eps_low = eps_high kept equal (the target takes one field for both)" in one.checks[0]["detail"]


class ClipEpsForBoth(torch.nn.Module):
    """OpenRLHF's shape, taking both bound fields and the older symmetric clip_eps, using the latter."""

    def __init__(self, clip_eps=0.2, clip_eps_low=0.2, clip_eps_high=0.2):
        super().__init__()
        self.clip_eps = clip_eps

    def forward(self, log_probs, old_log_probs, advantages, action_mask=None):
        return _masked_mean(_ppo(log_probs - old_log_probs, advantages, self.clip_eps, self.clip_eps),
                            action_mask)


def test_openrlhf_symmetric_clip_eps_for_both_deviates():
    _need("openrlhf")
    rep = _fuzz(ClipEpsForBoth, "openrlhf", 0)
    assert rep.verdict == "deviates", rep.text()
    assert "(clip_eps or clip_eps_low" in rep.findings[0].fix
