"""pytest plugin (entry point ``pytest11``): a framework's own test suite can state that its loss
conforms to a registered method, with the same verdict scale as the command line.

Marker — fuzz after the test body ran; the test fails if the verdict is ``deviates`` (or, with
``strict=True``, ``edge cases only``)::

    @pytest.mark.drpo_conforms(my_drpo_loss, "drpo", delta=0.2)
    def test_drpo_loss_matches_the_paper():
        ...                                   # any other assertions

Fixture — the same as a call, returning the :class:`~drpo_analysis.fuzz.runner.Report`::

    def test_ppo(assert_conforms):
        report = assert_conforms(my_ppo, "dual_clip", log_ratio_clamp=20)
        assert report.verdict == "conforms with declared design choices"

Keywords: the method's parameters by the registry's names (``delta=0.2``), the design choices of
``drpo-analysis fuzz --option`` (``log_ratio_clamp=20``, ``agg="seq-mean-token-mean"``, ...), and
``adapter`` (default: from the signature), ``seed``, ``examples`` (default: the CLI's), ``strict``,
``checks``. Nothing heavy is imported until a marked test or the fixture runs.
"""
from __future__ import annotations

import pytest

MARKER = "drpo_conforms"


def conforms(fn, method: str, *, adapter: str | None = None, seed: int = 0, examples: int | None = None,
             strict: bool = False, checks=None, **keywords):
    """Fuzz ``fn`` against ``method``; AssertionError with the report (findings, reproducers)
    unless it conforms (edge cases pass unless ``strict``). Returns the report."""
    from drpo_analysis.core import methods
    from drpo_analysis.fuzz import runner

    names = {p.name for p in methods.get(method).params}
    params = {k: v for k, v in keywords.items() if k in names}
    options = {k: v for k, v in keywords.items() if k not in names}
    return runner.assert_conforms(fn, method=method, params=params, adapter=adapter, seed=seed,
                                  examples=runner.DEFAULT_EXAMPLES if examples is None else examples,
                                  checks=checks, strict=strict, **options)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}(fn, method, **params_and_options): after the test body, fuzz fn against the "
                   "registered method (drpo_analysis.fuzz) and fail unless it conforms")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    for mark in item.iter_markers(MARKER):
        __tracebackhide__ = True
        conforms(*mark.args, **mark.kwargs)
    return result


@pytest.fixture
def assert_conforms():
    """``assert_conforms(fn, method, **params_and_options) -> Report`` (module docstring)."""
    return conforms
