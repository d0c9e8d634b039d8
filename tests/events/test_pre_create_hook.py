"""The blocking pre-create hook against a real HTTP endpoint on 127.0.0.1: accept, amend, reject
with the receiver's status and message, and the failure modes (closed by default, or open)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from events_support import free_port

from tusportal.events.hooks import PreCreateHook, PreCreateHookUnavailable, UploadRejectedByHook


class HookEndpoint:
    def __init__(self) -> None:
        self.status = 200
        self.body = b""
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                endpoint.requests.append(json.loads(raw))
                time.sleep(endpoint.delay)
                self.send_response(endpoint.status)
                self.send_header("content-length", str(len(endpoint.body)))
                self.end_headers()
                self.wfile.write(endpoint.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pre-create"


@pytest.fixture
def endpoint() -> Iterator[HookEndpoint]:
    e = HookEndpoint()
    yield e
    e.server.shutdown()
    e.server.server_close()


META = {"filename": "a.txt", "flag": None}


async def test_accepts_and_sends_what_it_knows(endpoint: HookEndpoint) -> None:
    hook = PreCreateHook(endpoint.url)
    assert await hook.check(length=11, metadata=META) is None
    assert endpoint.requests == [{"type": "pre-create", "upload": {"size": 11, "metadata": META}}]
    endpoint.body = b'{"note": "no metadata key"}'
    assert await hook.check(length=None, metadata={}) is None
    await hook.close()


async def test_amends_metadata(endpoint: HookEndpoint) -> None:
    endpoint.body = json.dumps({"metadata": {"filename": "a.txt", "tenant": "t1", "flag": None}}).encode()
    hook = PreCreateHook(endpoint.url)
    assert await hook.check(length=3, metadata=META) == {"filename": "a.txt", "tenant": "t1", "flag": None}
    await hook.close()


@pytest.mark.parametrize("status", [400, 401, 403, 413, 422, 451])
async def test_rejects_with_the_receivers_status_and_message(endpoint: HookEndpoint, status: int) -> None:
    endpoint.status = status
    endpoint.body = b"quota exceeded\nfor tenant t1"
    hook = PreCreateHook(endpoint.url)
    with pytest.raises(UploadRejectedByHook) as caught:
        await hook.check(length=3, metadata=META)
    assert caught.value.status == status
    assert caught.value.detail == "quota exceeded for tenant t1"
    assert caught.value.code == "rejected_by_pre_create_hook"
    await hook.close()


@pytest.mark.parametrize(
    ("status", "body", "delay"),
    [(500, b"", 0.0), (503, b"", 0.0), (302, b"", 0.0), (200, b"{not json", 0.0),
     (200, b'{"metadata": 5}', 0.0), (200, b'{"metadata": {"bad key": "x"}}', 0.0), (200, b"", 2.0)],
)  # fmt: skip
async def test_hook_failures_fail_closed_by_default_and_open_when_asked(
    endpoint: HookEndpoint, status: int, body: bytes, delay: float
) -> None:
    endpoint.status, endpoint.body, endpoint.delay = status, body, delay
    closed = PreCreateHook(endpoint.url, timeout=0.5)
    with pytest.raises(PreCreateHookUnavailable) as caught:
        await closed.check(length=3, metadata=META)
    assert caught.value.status == 503
    opened = PreCreateHook(endpoint.url, timeout=0.5, fail_open=True)
    assert await opened.check(length=3, metadata=META) is None
    await closed.close()
    await opened.close()


async def test_unreachable_hook_fails_closed_quickly() -> None:
    hook = PreCreateHook(f"http://127.0.0.1:{free_port()}/nobody", timeout=2)
    started = time.monotonic()
    with pytest.raises(PreCreateHookUnavailable):
        await hook.check(length=1, metadata={})
    assert time.monotonic() - started < 2
    await hook.close()


# --- end to end, through a real server (active once UploadService takes `pre_create`) ----------


def _service_takes_hook() -> bool:
    import inspect

    from tusportal.service import UploadService

    return "pre_create" in inspect.signature(UploadService).parameters


@pytest.mark.skipif(not _service_takes_hook(), reason="UploadService does not take a pre_create hook yet")
def test_server_asks_the_hook_before_creating(server_factory: Any, endpoint: HookEndpoint) -> None:
    import base64

    import httpx

    server = server_factory({"TUSPORTAL_PRE_CREATE_HOOK_URL": endpoint.url})
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "3"}
    endpoint.status, endpoint.body = 403, b"not for you"
    r = httpx.post(
        server.url, headers={**tus, "Upload-Metadata": "filename " + base64.b64encode(b"a").decode()}
    )
    assert r.status_code == 403 and r.text.strip() == "not for you"
    assert endpoint.requests[-1]["upload"] == {"size": 3, "metadata": {"filename": "a"}}
    endpoint.status, endpoint.body = 200, b'{"metadata": {"filename": "a", "tenant": "t1"}}'
    r = httpx.post(
        server.url, headers={**tus, "Upload-Metadata": "filename " + base64.b64encode(b"a").decode()}
    )
    assert r.status_code == 201
    head = httpx.head(r.headers["location"], headers={"Tus-Resumable": "1.0.0"})
    assert "tenant " + base64.b64encode(b"t1").decode() in head.headers["upload-metadata"]
    endpoint.status = 500
    assert httpx.post(server.url, headers=tus).status_code == 503
