"""tuspy uploads a file in chunks, resumes after an interruption, and the bytes arrive intact."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tusclient import client

REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@pytest.mark.timeout(120)
def test_tuspy_resumes_an_interrupted_upload_with_a_fresh_uploader(
    tus_url: str,
    tmp_path: Path,
    assert_upload_complete: Callable[[str, bytes], None],
) -> None:
    source = os.urandom(5 * MIB + 12345)  # not a multiple of the chunk size
    path = tmp_path / "source.bin"
    path.write_bytes(source)
    tus = client.TusClient(tus_url)
    metadata = {"filename": "source.bin", "filetype": "application/octet-stream"}

    first = tus.uploader(str(path), chunk_size=MIB, metadata=metadata)
    first.upload(stop_at=2 * MIB)  # two PATCHes, then "the process dies"
    assert first.url is not None
    assert first.offset == 2 * MIB
    head = httpx.head(first.url, headers={"Tus-Resumable": "1.0.0"}, timeout=30)
    assert int(head.headers["Upload-Offset"]) == 2 * MIB

    # A fresh uploader given only the URL asks the server for the offset and sends the rest.
    second = tus.uploader(str(path), url=first.url, chunk_size=MIB, metadata=metadata)
    assert second.offset == 2 * MIB
    second.upload()
    assert second.url == first.url
    assert second.offset == len(source)

    assert_upload_complete(first.url, source)


@pytest.mark.timeout(120)
def test_tuspy_example_runs(
    tus_url: str,
    assert_upload_complete: Callable[[str, bytes], None],
    upload_url_from_output: Callable[[str], str],
    tmp_path: Path,
) -> None:
    source = os.urandom(3 * MIB + 7)
    path = tmp_path / "example.bin"
    path.write_bytes(source)
    result = subprocess.run(
        [sys.executable, "examples/tuspy_upload.py", str(path)],
        cwd=REPO_ROOT,
        env=os.environ | {"TUS_URL": tus_url},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resuming at offset 1048576" in result.stdout
    assert_upload_complete(upload_url_from_output(result.stdout), source)
