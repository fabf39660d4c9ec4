"""Fuzz any policy-loss implementation against the registry's analytic reference.

* :func:`fuzz` runs the named checks (``checks.CHECKS``) and returns a :class:`Report`;
* :func:`assert_conforms` is the pytest-friendly one-call version;
* :func:`check_batch` compares on one batch (the hypothesis entry point, and what every
  finding's reproducer calls);
* :mod:`~drpo_analysis.fuzz.strategies` has the reusable hypothesis strategies;
* :mod:`~drpo_analysis.fuzz.adapters` reduces plain / verl / TRL / OpenRLHF losses to a target;
* :mod:`~drpo_analysis.fuzz.mutants` is the self-test corpus (``drpo-analysis fuzz --self-test``).
"""
from drpo_analysis.fuzz.oracle import TOLERANCES, Conventions
from drpo_analysis.fuzz.runner import Finding, Report, assert_conforms, check_batch, fuzz
from drpo_analysis.fuzz.strategies import Batch, PackedBatch
from drpo_analysis.fuzz.targets import Target

__all__ = ["Batch", "Conventions", "Finding", "PackedBatch", "Report", "TOLERANCES", "Target",
           "assert_conforms", "check_batch", "fuzz"]
