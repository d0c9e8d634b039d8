"""Uppy in headless chromium uploads a batch of files (examples/batch_uppy.html)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def static_server(node):  # node: makes sure node_modules (uppy) is installed
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO_ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.timeout(180)
def test_uppy_uploads_a_batch(tus_url: str, static_server: str, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{static_server}/examples/batch_uppy.html?endpoint={tus_url}")
        page.wait_for_function("window.uppy !== undefined")
        page.evaluate(
            """() => {
                for (const [name, size] of [["one.txt", 1000], ["two.bin", 3 * 1024 * 1024]]) {
                    window.uppy.addFile({ name, type: "application/octet-stream",
                        data: new Blob([new Uint8Array(size).fill(7)]) });
                }
                window.uppy.upload();
            }"""
        )
        page.wait_for_function("window.batchResult !== undefined", timeout=60_000)
        result = page.evaluate("window.batchResult")
        shots = REPO_ROOT / "test-artifacts"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "uppy-batch.png"))
    finally:
        page.close()
    assert result["state"] == "completed", result
    assert result["files_total"] == 2 and result["files_completed"] == 2
    assert result["bytes_received"] == 1000 + 3 * 1024 * 1024
    doc = httpx.get(tus_url.replace("/files/", f"/api/batches/{result['id']}")).json()
    assert sorted(f["filename"] for f in doc["files"]) == ["one.txt", "two.bin"]
