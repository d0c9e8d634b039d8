"""tus-js-client under Node uploads in chunks, resumes after an abort, and the bytes match."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "js" / "upload_resume.mjs"
MIB = 1024 * 1024


@pytest.mark.timeout(120)
def test_tus_js_client_resumes_an_aborted_upload(
    tus_url: str,
    node: Path,
    tmp_path: Path,
    assert_upload_complete: Callable[[str, bytes], None],
) -> None:
    source = os.urandom(5 * MIB + 4321)
    path = tmp_path / "source.bin"
    path.write_bytes(source)

    result = subprocess.run(
        [str(node), str(SCRIPT), tus_url, str(path), str(MIB)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    # The first attempt created the upload and was aborted part-way.
    assert report["first_requests"][0]["method"] == "POST"
    resumed_at = report["offset_at_resume"]
    assert 0 < resumed_at < len(source)
    # The second attempt reused that upload: HEAD, then PATCHes starting at the server's offset.
    assert report["final_url"] == report["upload_url"]
    methods = [r["method"] for r in report["resumed_requests"]]
    assert methods[0] == "HEAD"
    assert "POST" not in methods
    patches = [int(r["offset"]) for r in report["resumed_requests"] if r["method"] == "PATCH"]
    assert patches[0] == resumed_at
    assert patches == sorted(patches)
    # In chunks: the file of six 1 MiB chunks took one PATCH per chunk, at least.
    first_patches = [r for r in report["first_requests"] if r["method"] == "PATCH"]
    assert len(first_patches) + len(patches) >= 6

    assert_upload_complete(report["upload_url"], source)


@pytest.mark.timeout(120)
def test_tus_js_client_example_runs(
    tus_url: str,
    node: Path,
    tmp_path: Path,
    assert_upload_complete: Callable[[str, bytes], None],
    upload_url_from_output: Callable[[str], str],
) -> None:
    source = os.urandom(4 * MIB + 99)
    path = tmp_path / "example.bin"
    path.write_bytes(source)
    result = subprocess.run(
        [str(node), "examples/tus_js_client_upload.mjs", str(path), tus_url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aborting at" in result.stdout
    assert_upload_complete(upload_url_from_output(result.stdout), source)
