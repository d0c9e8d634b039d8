"""CORS for browser clients (Uppy, tus-js-client): preflight and exposed tus headers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tus_support import ServerInfo, TusClient, header_list

ORIGIN = "https://uploader.example"
# What tus-js-client sends; Upload-Checksum only where checksums are offered.
CLIENT_HEADERS = [
    "tus-resumable",
    "upload-offset",
    "upload-length",
    "upload-metadata",
    "upload-defer-length",
    "upload-concat",
    "content-type",
    "x-http-method-override",
]
MUST_EXPOSE = [
    "Upload-Offset",
    "Location",
    "Upload-Length",
    "Tus-Version",
    "Tus-Resumable",
    "Tus-Max-Size",
    "Tus-Extension",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
]


def lowered(value: str | None) -> set[str]:
    return {item.lower() for item in header_list(value)}


def test_preflight_allows_the_origin(tus: TusClient) -> None:
    """A preflight OPTIONS with Origin answers 200/204 with Access-Control-Allow-Origin."""
    response = tus.options({"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"})
    assert response.status_code in (200, 204)
    assert response.headers.get("access-control-allow-origin") in (ORIGIN, "*")


@pytest.mark.parametrize("method", ["PATCH", "POST", "HEAD", "DELETE"])
def test_preflight_allows_tus_methods(tus: TusClient, method: str) -> None:
    """The preflight's Access-Control-Allow-Methods includes the requested tus method."""
    response = tus.options({"Origin": ORIGIN, "Access-Control-Request-Method": method})
    allowed = {m.upper() for m in header_list(response.headers.get("access-control-allow-methods"))}
    assert method in allowed or "*" in allowed, f"Allow-Methods is {sorted(allowed)}"


def test_preflight_allows_requested_tus_headers(tus: TusClient, server: ServerInfo) -> None:
    """The preflight's Access-Control-Allow-Headers covers the tus request headers asked for."""
    requested = CLIENT_HEADERS + (["upload-checksum"] if server.supports("checksum") else [])
    response = tus.options(
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": ",".join(requested),
        }
    )
    allowed = lowered(response.headers.get("access-control-allow-headers"))
    missing = [h for h in requested if h not in allowed]
    assert not missing or "*" in allowed, f"Allow-Headers lacks {missing}"


def _assert_exposes_tus_headers(headers: httpx.Headers) -> None:
    exposed = lowered(headers.get("access-control-expose-headers"))
    missing = [h for h in MUST_EXPOSE if h.lower() not in exposed]
    assert not missing, f"Access-Control-Expose-Headers lacks {missing}"


def test_post_with_origin_exposes_tus_headers(tus: TusClient) -> None:
    """A POST with Origin gets Allow-Origin and Expose-Headers listing every tus header."""
    response = tus.post({"Upload-Length": "10", "Origin": ORIGIN})
    assert response.headers.get("access-control-allow-origin") in (ORIGIN, "*")
    _assert_exposes_tus_headers(response.headers)


def test_head_with_origin_exposes_tus_headers(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """A HEAD with Origin gets Allow-Origin and Expose-Headers listing every tus header."""
    response = tus.head(new_upload(10), {"Origin": ORIGIN})
    assert response.headers.get("access-control-allow-origin") in (ORIGIN, "*")
    _assert_exposes_tus_headers(response.headers)


def test_patch_with_origin_exposes_tus_headers(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """A PATCH with Origin gets Allow-Origin and Expose-Headers listing every tus header."""
    response = tus.patch(new_upload(10), 0, b"abc", {"Origin": ORIGIN})
    assert response.status_code == 204
    assert response.headers.get("access-control-allow-origin") in (ORIGIN, "*")
    _assert_exposes_tus_headers(response.headers)


def test_error_response_with_origin_still_has_cors(tus: TusClient) -> None:
    """Even an error (404 on an unknown upload) carries Allow-Origin so browsers can read it."""
    response = tus.head(tus.unknown_url(), {"Origin": ORIGIN})
    assert response.headers.get("access-control-allow-origin") in (ORIGIN, "*")
