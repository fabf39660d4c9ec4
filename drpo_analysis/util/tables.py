"""Plain-text tables for the command line and the Markdown reports."""
from __future__ import annotations

from typing import Any, Sequence

def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, max_width: int = 60) -> str:
    """A plain-text table; cells longer than ``max_width`` are cut with an ellipsis."""
    def cell(v):
        s = "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        s = s.replace("\n", " ")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, body)])
