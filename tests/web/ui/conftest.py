"""Fixtures for the web UI tests: a tiny webhook receiver, where screenshots go, and `wait_until`.
The `browser` fixture (Debian's chromium under Playwright) is in tests/conftest.py."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


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


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`wait_until(check, timeout=30, what=...)`: poll `check` until it returns something truthy
    (that value), or fail after `timeout` seconds."""
    return _wait_until


def _wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
