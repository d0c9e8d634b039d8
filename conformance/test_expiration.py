"""Extension expiration: Upload-Expires on unfinished uploads."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from tus_support import ServerInfo, TusClient, parse_http_date, require


def assert_future_http_date(response: httpx.Response) -> None:
    value = response.headers.get("upload-expires")
    assert value, f"no Upload-Expires on {response.request.method} {response.status_code}"
    when = parse_http_date(value)
    assert when is not None, f"Upload-Expires {value!r} is not an RFC 7231 IMF-fixdate"
    assert when > datetime.now(UTC), f"Upload-Expires {value!r} is in the past"


def test_post_response_carries_future_upload_expires(tus: TusClient, server: ServerInfo) -> None:
    """The POST response for an unfinished upload carries Upload-Expires, an IMF-fixdate ahead."""
    require(server, "expiration")
    require(server, "creation")
    response = tus.create(100)
    assert response.status_code == 201
    assert_future_http_date(response)


def test_patch_response_carries_future_upload_expires(tus: TusClient, server: ServerInfo) -> None:
    """A PATCH response on a still unfinished upload carries Upload-Expires in the future."""
    require(server, "expiration")
    require(server, "creation")
    url = tus.resolve(tus.create(100))
    response = tus.patch(url, 0, b"x" * 10)
    assert response.status_code == 204
    assert_future_http_date(response)


def test_head_upload_expires_is_an_http_date(tus: TusClient, server: ServerInfo) -> None:
    """Upload-Expires on HEAD, when a server sends it, is an IMF-fixdate in the future."""
    require(server, "expiration")
    require(server, "creation")
    response = tus.head(tus.resolve(tus.create(100)))
    if "upload-expires" in response.headers:
        assert_future_http_date(response)
