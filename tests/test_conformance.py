"""The black-box conformance suite (conformance/) against a real tusportal server process.

Run as its own pytest process so its modules never mix with tests/. Skips are only allowed for
extensions the server does not advertise (concatenation lands with its own issue)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_conformance_suite_passes_against_tusportal(tus_server) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "conformance",
            "--tus-url",
            tus_server.url,
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(out.stdout[-4000:])
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 100, summary
    for line in out.stdout.splitlines():
        if line.startswith("SKIPPED"):
            assert "does not advertise" in line, line
