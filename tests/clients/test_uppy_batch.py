"""Uppy in headless chromium uploads a batch of files (examples/batch_uppy.html)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TUSPORTAL_CHROMIUM", "/usr/bin/chromium")


def ensure_chromium() -> str:
    """Debian's chromium; installed with apt when missing (CI runs as root on Debian)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            timeout=1200,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            raise RuntimeError("chromium is required in CI")
        pytest.skip("chromium is not installed")
    return CHROMIUM


@pytest.fixture(scope="module")
def static_server(node):  # node: makes sure node_modules (uppy) is installed
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO_ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.timeout(180)
def test_uppy_uploads_a_batch(tus_url: str, static_server: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        try:
            page = browser.new_page()
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
            browser.close()
    assert result["state"] == "completed", result
    assert result["files_total"] == 2 and result["files_completed"] == 2
    assert result["bytes_received"] == 1000 + 3 * 1024 * 1024
    doc = httpx.get(tus_url.replace("/files/", f"/api/batches/{result['id']}")).json()
    assert sorted(f["filename"] for f in doc["files"]) == ["one.txt", "two.bin"]
