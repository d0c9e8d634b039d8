"""Black-box tus 1.0.0 conformance suite: options, fixtures and the liveness plugin.

Run against any server:  uv run pytest conformance --tus-url http://127.0.0.1:1080/files/
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import httpx
import pytest
from tus_liveness import DOCS, make_plugin
from tus_support import ServerInfo, TusClient, require

REQUEST_TIMEOUT = 15.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tus", "tus conformance")
    group.addoption(
        "--tus-url",
        default=os.environ.get("TUS_URL"),
        help="creation endpoint of the tus server under test (env TUS_URL)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "download: GET on uploads (not part of tus; skipped when unsupported)")
    config.addinivalue_line("markers", "faults: disconnects, stalls and races")
    config.addinivalue_line("markers", "fuzz: hypothesis-generated malformed requests")
    url = config.getoption("--tus-url")
    if url:
        config.pluginmanager.register(make_plugin(url), "tus-liveness")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        doc = getattr(getattr(item, "obj", None), "__doc__", None) or ""
        DOCS[item.nodeid] = doc.strip().splitlines()[0] if doc.strip() else ""


@pytest.fixture(scope="session")
def tus_url(pytestconfig: pytest.Config) -> str:
    url = pytestconfig.getoption("--tus-url")
    if not url:
        pytest.fail("no server to test: pass --tus-url URL or set TUS_URL", pytrace=False)
    return str(url)


@pytest.fixture(scope="session")
def server(tus_url: str) -> ServerInfo:
    """The server's advertised configuration (one OPTIONS request per session)."""
    response = httpx.request("OPTIONS", tus_url, timeout=REQUEST_TIMEOUT)
    return ServerInfo.from_response(response)


@pytest.fixture
def tus(tus_url: str, server: ServerInfo) -> Iterator[TusClient]:
    """A tus client for one test; uploads it created are terminated afterwards when possible."""
    with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
        client = TusClient(http, tus_url)
        yield client
        if server.supports("termination"):
            for url in client.created:
                with contextlib.suppress(httpx.HTTPError):
                    http.delete(url, headers={"Tus-Resumable": "1.0.0"}, timeout=3.0)


@pytest.fixture
def new_upload(tus: TusClient, server: ServerInfo) -> Callable[..., str]:
    """Factory: create an upload of `length` bytes (POST) and return its absolute URL."""
    require(server, "creation")

    def make(length: int, metadata: str | None = None) -> str:
        response = tus.create(length, metadata=metadata)
        assert response.status_code == 201, (
            f"creating an upload failed: {response.status_code} {response.text[:200]}"
        )
        return tus.resolve(response)

    return make
