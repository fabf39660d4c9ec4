"""diagnose on held-out logs written outside the package (tests/heldout_logs.py): every planted
defect is found in exactly its rows, in every format, and no clean file gives any finding."""
from __future__ import annotations

import pytest

from drpo_analysis.diagnose import run

from heldout_logs import generate


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("heldout")
    return out, generate(out)


def test_held_out_logs(logs):
    out, man = logs
    wrong = {}
    for rel, spec in man.items():
        columns = dict(c.split("=", 1) for c in spec.get("columns", [])) or None
        rep = run.diagnose([out / rel], specs=["ppo_clip"], columns=columns)
        found = {f["check"]: f["rows"] for f in rep["lint"]}
        if spec["expect"]:
            (check,) = spec["expect"]
            rows = spec["rows"] if spec["rows"] != "all" else list(range(rep["steps"][0]["responses"]))
            # truncated_sampling: every response with a usable ratio (all-masked ones have none)
            ok = set(found) == {check} and (found[check] == rows if spec["rows"] != "all"
                                            else len(found[check]) >= 0.9 * len(rows))
        else:
            ok = found == {}
        if not ok:
            wrong[rel] = found
    assert wrong == {}, wrong
    assert sum(1 for s in man.values() if not s["expect"]) >= 9 and len(man) >= 20
