"""The ecosystem adapters (TRL, AReaL, SkyRL, torchtune, ms-swift, ART) against the installed, pinned releases.

Each framework's entries of the conformance matrix are re-run here (same seed and examples) and compared,
check by check, with the committed ``paper_repro/CONFORMANCE.json``: a new release that changes
what a loss computes shows up as a failing test whose assertion diff names the entry and check.
"""
import importlib.util
import json
from pathlib import Path

import pytest

from drpo_analysis.fuzz import adapters, conformance
from drpo_analysis.fuzz.adapters import bypath

COMMITTED = Path(__file__).resolve().parents[1] / "paper_repro" / "CONFORMANCE.json"
#: framework -> (adapter, distribution, top-level package)
FRAMEWORKS = {"TRL": ("trl", "trl", "trl"), "AReaL": ("areal", "areal", "areal"), "SkyRL": ("skyrl", "skyrl", "skyrl"),
              "torchtune": ("torchtune", "torchtune", "torchtune"), "ms-swift": ("swift", "ms-swift", "swift"), "ART": ("art", "openpipe-art", "art")}


def _need(top):
    if importlib.util.find_spec(top) is None:
        pytest.skip(f"{top} is not installed (make test installs the peers)")


@pytest.mark.parametrize("adapter,dist,top", sorted(FRAMEWORKS.values()))
def test_installed_release_is_the_pinned_one(adapter, dist, top):
    _need(top)
    mod = adapters.module(adapter)
    assert bypath.installed_version(dist) == mod.VERSION == conformance.PINNED[dist], (
        f"{dist} {bypath.installed_version(dist)} is installed, the adapter is written against {mod.VERSION}: "
        f"re-read its loss files, update the adapter's citations and rerun `make conformance`")


def _committed():
    res = json.loads(COMMITTED.read_text())
    return res["seed"], res["examples"], {r["label"]: r for r in res["entries"]}


ECOSYSTEM = [e for e in conformance.ENTRIES if e.framework in FRAMEWORKS]


@pytest.mark.parametrize("entry", ECOSYSTEM, ids=[e.label for e in ECOSYSTEM])
def test_entry_matches_the_committed_matrix(entry):
    _need(FRAMEWORKS[entry.framework][2])
    seed, examples, rows = _committed()
    row = conformance.run_entry(entry, seed=seed, examples=examples)
    was = rows[entry.label]
    assert (row["method"], row["params"], row["agg"]) == (was["method"], was["params"], was["agg"])
    assert {"verdict": row["status"], **row["checks"]} == {"verdict": was["status"], **was["checks"]}


def test_bypath_loading_leaves_sys_modules_clean():
    _need("skyrl")
    _need("areal")
    import sys
    adapters.module("skyrl").loss_module()
    adapters.module("areal").loss_module()
    for name in ("skyrl.train.config", "areal.api.cli_args", "areal.utils.data", "skyrl.backends"):
        assert name not in sys.modules or getattr(sys.modules[name], "__file__", None), name


def test_declared_finding_matches_narrowly():
    from drpo_analysis.fuzz.runner import Finding
    d = conformance.Declared(("overflow",), "", "gradient mismatch", conformance.DESIGN_CHOICE, "clamp", max_abs_got=1e-6)
    f = Finding("overflow", "gradient mismatch", "", {}, 0.0, 1e-8, 0, "", sub_check="float64, |log r| up to 100")
    assert d.matches(f)
    assert not d.matches(Finding("overflow", "gradient mismatch", "", {}, 0.0, 0.5, 0, "", sub_check="x"))
    assert not d.matches(Finding("gradient", "gradient mismatch", "", {}, 0.0, 1e-8, 0, "", sub_check="x"))
    assert not d.matches(Finding("overflow", "non-finite", "", {}, None, 1e-8, 0, "", sub_check="x"))


def test_committed_matrix_lists_every_entry_and_not_checked_function():
    text = COMMITTED.with_suffix(".md").read_text()
    for e in conformance.ENTRIES:
        assert f"| {e.framework} | {e.label} |" in text, f"CONFORMANCE.md is stale (rerun `make conformance`): {e.label}"
    for fw, fn, _ in conformance.NOT_CHECKED:
        assert f"| {fw} | {fn} |" in text


def test_every_declared_finding_is_used_in_the_committed_matrix():
    """A declaration that no longer absorbs anything is stale: the framework changed or the fuzzer did."""
    _, _, rows = _committed()
    for e in conformance.ENTRIES:
        row = rows[e.label]
        used = set(row.get("absorbed", {})) | {f["explanation"] for f in row["findings"]}
        for d in e.declared:
            assert d.reason in used, f"{e.label}: declared finding not seen any more: {d.reason}"


def test_art_negative_advantage_cap_applies_to_every_token():
    """ART's max_negative_advantage_importance_sampling_weight clamps the ratio whatever the sign of Â
    (matrix: ART entry). A release that restricts it to Â < 0 changes the Â > 0 row here."""
    _need("art")
    import math

    import torch

    from drpo_analysis.fuzz.adapters import art
    F = art.loss_module()
    mask = torch.tensor([[True]])
    grads = {}
    for adv in (1.0, -1.0):
        logp = torch.tensor([[math.log(0.3)]], requires_grad=True)      # r = 3 against μ = 0.1
        inputs = {"logprobs": art._unshifted(torch.tensor([[math.log(0.1)]]), float("nan")),
                  "advantages": art._unshifted(torch.tensor([[adv]]), 0.0), "assistant_mask": art._unshifted(mask, False),
                  "weights": art._unshifted(torch.ones(1, 1), 0.0), "group_ids": art._unshifted(mask.long(), 0)}
        cfg = {"max_negative_advantage_importance_sampling_weight": 2.0}
        loss = F.loss_fn(inputs, torch.cat([logp, torch.zeros(1, 1)], 1), None, None, cfg).policy_loss
        grads[adv] = -torch.autograd.grad(loss, logp)[0].item()
    # weight 2 (not r = 3) for Â = +1 too; ART's token mean divides by mask.sum() + 1e-6
    assert grads == {1.0: pytest.approx(2.0, rel=1e-5), -1.0: pytest.approx(-2.0, rel=1e-5)}
