"""The plain-curl walk-through in examples/curl.sh creates, half-uploads, resumes and finishes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_curl_example_runs(
    tus_url: str,
    tmp_path: Path,
    assert_upload_complete: Callable[[str, bytes], None],
    upload_url_from_output: Callable[[str], str],
) -> None:
    source = os.urandom(1024 * 1024 + 3)
    path = tmp_path / "example.bin"
    path.write_bytes(source)
    result = subprocess.run(
        ["bash", "examples/curl.sh", str(path)],
        cwd=REPO_ROOT,
        env=os.environ | {"TUS_URL": tus_url},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming at offset {len(source) // 2}" in result.stdout
    assert_upload_complete(upload_url_from_output(result.stdout), source)
