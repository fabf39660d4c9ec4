"""Real-model evidence: ``paper_repro/REAL_MODEL.md`` with figures ``figures/real_*.png``.

Needs the rollouts of ``drpo-analysis rollouts`` (committed as test fixtures,
``tests/fixtures/rollouts/smollm2_<precision>.npz``) and their summary
(``paper_repro/real_model/mismatch.json``); see :mod:`drpo_analysis.reporting.real_model`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from drpo_analysis.reporting import real_model
from drpo_analysis.util.paths import repo_root

PRECISIONS = ("bf16", "fp16", "fp8-e4m3")


def main(outdir=None) -> list[Path]:
    root = repo_root()
    out = Path(outdir) if outdir else root / "figures"
    files = {p: root / "tests" / "fixtures" / "rollouts" / f"smollm2_{p}.npz" for p in PRECISIONS}
    summary = json.loads((root / "paper_repro" / "real_model" / "mismatch.json").read_text())
    # The committed report lives in paper_repro/; a run into another folder (``make demo``) keeps
    # its report beside its figures, so a checkout is never rewritten by it.
    md = root / "paper_repro" / "REAL_MODEL.md" if outdir is None else out / "REAL_MODEL.md"
    real_model.build(files, summary, md, out)
    return sorted(out.glob("real_*.png"))


if __name__ == "__main__":
    print("\n".join(map(str, main(sys.argv[1] if len(sys.argv) > 1 else None))))
