"""The batch examples (tuspy and tus-js-client) run against a real server and complete a batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_tuspy_batch_example(tus_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "examples/batch_tuspy.py", "--url", tus_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "batch completed: 3/3 files" in out.stdout


@pytest.mark.timeout(120)
def test_tus_js_client_batch_example(tus_url: str, node: Path) -> None:
    out = subprocess.run(
        [str(node), "examples/batch_tus_js_client.mjs", tus_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "batch completed: 3/3 files" in out.stdout
