"""The pytest plugin (entry point pytest11): marker and fixture, run in a separate pytest session."""
import pytest

pytest_plugins = ("pytester",)

LOSSES = '''
import torch

def correct_drpo(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    r = torch.exp(torch.where(mask, logp - logp_mu, torch.zeros_like(logp)))
    mu = torch.exp(torch.where(mask, logp_mu, torch.zeros_like(logp_mu)))
    a = torch.where(mask, adv, torch.zeros_like(adv))
    j = r * a - a.abs() * mu * (r - 1) * (r - 1) / (2 * delta)
    return -(j * mask).sum() / (num_tokens or mask.sum().clamp(min=1))

def drpo_delta_not_halved(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    return correct_drpo(logp, logp_mu, adv, mask, delta=delta / 2, num_tokens=num_tokens)
'''


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(losses=LOSSES)
    # An installed package registers the plugin through its pytest11 entry point; a checkout that
    # was not reinstalled since the entry point was added loads it here instead (never twice).
    pytester.makeconftest("""
import drpo_analysis.fuzz.pytest_plugin as plugin

def pytest_configure(config):
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, "drpo_analysis")
""")
    return pytester


def test_marker_passes_a_conforming_loss_and_fails_a_mutant(suite):
    suite.makepyfile(test_losses='''
import pytest
from losses import correct_drpo, drpo_delta_not_halved

@pytest.mark.drpo_conforms(correct_drpo, "drpo", delta=0.2, examples=4, checks=["gradient", "hyperparameters"])
def test_correct():
    pass

@pytest.mark.drpo_conforms(drpo_delta_not_halved, "drpo", delta=0.2, examples=4, checks=["gradient", "hyperparameters"])
def test_mutant():
    pass
''')
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["*test_mutant*", "*DEVIATES*", "*likely fix*"])


def test_fixture_returns_the_report_with_the_cli_example_count(suite):
    suite.makepyfile(test_fixture='''
from drpo_analysis.fuzz.runner import DEFAULT_EXAMPLES
from losses import correct_drpo

def test_report(assert_conforms):
    rep = assert_conforms(correct_drpo, "drpo", delta=0.2, checks=["gradient"])
    assert rep.verdict == "conforms"
    # the CLI's 24 drawn batches, plus the gradient check's one large batch
    assert rep.checks[0]["examples"] == DEFAULT_EXAMPLES + 1 == 25
''')
    suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist").assert_outcomes(passed=1)


def test_plugin_is_registered_as_a_pytest11_entry_point():
    from importlib.metadata import entry_points
    import tomllib
    from pathlib import Path
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"drpo_analysis": "drpo_analysis.fuzz.pytest_plugin"}
    assert "hypothesis" in " ".join(meta["project"]["dependencies"])
    del entry_points
