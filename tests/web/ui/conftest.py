"""Fixtures for the web UI tests: Debian's chromium driven by Playwright (never a downloaded
browser), a tiny webhook receiver, and where screenshots go."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("TUSPORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


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
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class Receiver:
    """Answers 200 on /ok; on /flaky answers 500 until `healthy` is set. Records what arrived."""

    url: str
    healthy: threading.Event = field(default_factory=threading.Event)
    received: list[tuple[str, str]] = field(default_factory=list)  # (path, webhook-id)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            me = state["receiver"]
            me.received.append((self.path, self.headers.get("webhook-id", "")))
            ok = self.path == "/ok" or (self.path == "/flaky" and me.healthy.is_set())
            self.send_response(200 if ok else 500)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
