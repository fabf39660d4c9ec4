"""The outside corpus (tests/corpus/): implementations written in styles this project does not
use, driven through the command line exactly as a user would (``drpo-analysis fuzz FILE:FN
--method M`` plus only the design choices the file documents). Every correct implementation must
conform (exit 0) and every mutant must be reported as deviating (exit 1) at default settings."""
import ast
import json
from pathlib import Path

import pytest

from drpo_analysis import cli

CORPUS = Path(__file__).parent / "corpus"


def spec(path: Path) -> dict:
    """The file's ``FUZZ = {...}`` literal, read without importing it."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FUZZ":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} has no FUZZ literal")


def files(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).glob("*.py") if not p.name.startswith("_"))


def fuzz_cli(path: Path, capsys, seed: int = 0) -> tuple[int, dict]:
    s = spec(path)
    code = cli.main(["fuzz", f"{path}:{s['fn']}", "--method", s["method"], *s["args"], "--seed", str(seed),
                     "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_corpus_size():
    assert len(files("correct")) >= 20 and len(files("mutants")) >= 40


@pytest.mark.parametrize("path", files("correct"), ids=lambda p: p.stem)
def test_correct_implementation_conforms(path, capsys):
    code, out = fuzz_cli(path, capsys)
    deviations = [f"{f['check']} / {f['sub_check']}: {f['message']}" for f in out["findings"]
                  if f["severity"] == "deviates"]
    assert code == 0 and out["verdict"] != "deviates", deviations


@pytest.mark.parametrize("path", files("mutants"), ids=lambda p: p.stem)
def test_mutant_is_caught_at_default_settings(path, capsys):
    code, out = fuzz_cli(path, capsys)
    assert code == 1 and out["verdict"] == "deviates", f"{spec(path)['bug']} escaped: {out['checks']}"
    assert all(f["fix"] and f["sub_check"] for f in out["findings"])
