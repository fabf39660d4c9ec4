"""Where the checkout's own folders are (``proofs/``, ``figures/``, ``paper_repro/``)."""
from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The checkout this package was installed from (editable installs, ``make``)."""
    return Path(__file__).resolve().parents[2]
