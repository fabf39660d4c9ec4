"""The repository explains itself: nothing cites a file outside it or a tracker number, every
relative link in README.md and docs/ resolves (file and #anchor), every ``docs/<page>.md#anchor``
cited from code exists, the docs describe every built-in method, audit claim and proof, and the
README's import lines work.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("drpo_analysis", "tests", "proofs", "figures")
TOP_FILES = ("Makefile", "pyproject.toml", "README.md")

# Citations a clone of this repository cannot follow: the background documents the project was
# written from, the shared folder next to the checkout, and tracker numbers (the word issue and a number).
FORBIDDEN = re.compile(r"\b(?:DESIGN|REFERENCE)\b|\.\./shared|/work/shared|\b[Ii]ssues? ?#?\d+")
DOC_CITATION = re.compile(r"docs/([\w-]+\.md)(#[\w-]+)?")
MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def text_files():
    """Every tracked-or-not text file the repository's code, tests, proofs and docs consist of."""
    files = [ROOT / f for f in TOP_FILES]
    for d in SCANNED:
        files += [p for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md", ".toml", ".cfg", ".txt")]
    files += sorted(DOCS.glob("*.md")) + sorted((ROOT / "paper_repro").glob("*.md"))
    return [p for p in files if p.is_file() and p != Path(__file__).resolve()]


def forbidden_citations(text: str) -> list[str]:
    return [m.group(0) for m in FORBIDDEN.finditer(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"#{1,6} (.+)", line)
        if m and not fenced:
            base = slug(re.sub(r"`", "", m.group(1)))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def markdown_links(md: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in MD_LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def resolve(md: Path, target: str) -> str | None:
    """None if ``target`` (relative to ``md``) exists, with its anchor if it has one; else why not."""
    path, _, anchor = target.partition("#")
    dest = (md.parent / path).resolve() if path else md
    if not dest.exists():
        return f"{target}: no such file"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: no heading with anchor #{anchor} in {dest.name}"
    return None


# --- the checkers can fail ------------------------------------------------------------------------

def test_checkers_detect_bad_citations_and_links(tmp_path):
    # the samples are split so that this file does not itself hold the citations it forbids
    assert forbidden_citations("see DESIGN" ".md and REFERENCE 'SPO' row; .." "/shared/x; issue" " 2 §7; Issue #12") == [
        "DESIGN", "REFERENCE", ".." "/shared", "issue" " 2", "Issue #12"]
    assert forbidden_citations("docs/design.md#conventions; DRPO (arXiv 2606.09821) eq. 6; # [B, T]") == []
    assert slug("Theorems 3.1 and 3.2") == "theorems-31-and-32" and slug("`pg_is`") == "pg_is"
    md = tmp_path / "a.md"
    md.write_text("# Title\n\n## Part\n\n```\n# not a heading\n```\n[ok](a.md#part) [bad](b.md) "
                  "[gone](a.md#not-a-heading) [web](https://example.org)\n", encoding="utf-8")
    links = markdown_links(md)
    assert links == ["a.md#part", "b.md", "a.md#not-a-heading"]
    assert [resolve(md, t) is None for t in links] == [True, False, False]


# --- the repository ---------------------------------------------------------------------------------

def test_nothing_cites_files_outside_the_repository_or_tracker_numbers():
    bad = []
    for p in text_files():
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if forbidden_citations(line):
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:120]}")
    assert not bad, "cite docs/<page>.md#section or a paper (arXiv number, equation) instead:\n" + "\n".join(bad)


@pytest.mark.parametrize("md", ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md"))])
def test_relative_links_resolve(md):
    path = ROOT / md
    broken = [why for t in markdown_links(path) if (why := resolve(path, t))]
    assert not broken, "\n".join(broken)


def test_docs_citations_in_code_resolve():
    broken = []
    for p in text_files():
        for m in DOC_CITATION.finditer(p.read_text(encoding="utf-8", errors="replace")):
            why = resolve(DOCS / "README.md", m.group(1) + (m.group(2) or ""))
            if why:
                broken.append(f"{p.relative_to(ROOT)}: docs/{why}")
    assert not broken, "\n".join(broken)


def test_docs_describe_every_method_claim_and_proof():
    from drpo_analysis.claims import audit, proving
    from drpo_analysis.core import methods

    builtin = [m.name for m in methods.REGISTRY.values()
               if m.objective.__module__.startswith("drpo_analysis.core.methods")]
    assert len(builtin) >= 19
    missing = sorted(set(builtin) - anchors(DOCS / "methods.md"))
    assert not missing, f"docs/methods.md has no '### <name>' section for {missing}"
    claims_md = (DOCS / "claims.md").read_text(encoding="utf-8")
    ids = [c.id for c in audit.CLAIMS] + [c.id for c in proving.discover()]
    missing = [i for i in ids if f"`{i}`" not in claims_md]
    assert not missing, f"docs/claims.md does not list {missing}"


def test_readme_import_lines_work():
    """Every ``from drpo_analysis... import ...`` line in README.md and docs/ runs (module moves)."""
    lines = []
    for md in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for block in re.findall(r"```python\n(.*?)```", md.read_text(encoding="utf-8"), flags=re.S):
            lines += [ln.strip() for ln in block.splitlines()
                      if re.match(r"\s*(from drpo_analysis[\w.]* import |import drpo_analysis)", ln)]
    assert lines
    proc = subprocess.run([sys.executable, "-c", "\n".join(lines)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
