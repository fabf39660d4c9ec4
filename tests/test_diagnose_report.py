"""The diagnose HTML report: self-contained, and every embedded figure renders in a real browser."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drpo_analysis.diagnose import run
from drpo_analysis.reporting import diagnose_report

FIX = Path(__file__).parent / "fixtures" / "rollouts"
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    files = [FIX / "smollm2_bf16.npz", FIX / "smollm2_fp8-e4m3.npz", FIX / "planted" / "shifted.npz"]
    payload = run.diagnose(files, specs=["ppo_clip", "dppo_binary_tv", "dppo_topk_tv", "drpo", "token_tis"])
    return payload, diagnose_report.write_html(payload, tmp_path_factory.mktemp("r") / "report.html")


def test_report_is_self_contained(report):
    payload, path = report
    doc = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", doc)   # nothing loaded from elsewhere
    assert doc.count('src="data:image/png;base64,') == len(diagnose_report.figures(payload)) == 4
    assert "shifted" in doc   # the lint finding of the planted file


@pytest.mark.skipif(CHROMIUM is None, reason="no headless browser: install Debian's chromium (make test does)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    _, path = report
    out = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          f"--user-data-dir={tmp_path}", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = out.stdout
    total = re.search(r'data-images-total="(\d+)"', dom)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert total and loaded, out.stderr[-2000:]
    assert int(total.group(1)) == 4 and int(loaded.group(1)) == 4
    assert "Rollout diagnosis" in dom
