"""tus-js-client with parallelUploads: 4 uploads a 64 MiB file through concatenation."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "js" / "parallel_upload.mjs"


@pytest.mark.timeout(180)
def test_tus_js_client_parallel_uploads_64_mib(
    tus_url: str, node: Path, tmp_path: Path, assert_upload_complete: Callable[[str, bytes], None]
) -> None:
    source = os.urandom(64 * 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(source)
    result = subprocess.run(
        [str(node), str(SCRIPT), tus_url, str(path), "4"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    concat = [r["concat"] for r in report["requests"] if r["method"] == "POST"]
    assert concat.count("partial") == 4
    assert sum(1 for c in concat if c and c.startswith("final;")) == 1
    assert_upload_complete(report["url"], source)
