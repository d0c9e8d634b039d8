"""X-HTTP-Method-Override: a POST carrying it acts as the named method."""

from __future__ import annotations

from collections.abc import Callable

from tus_support import OFFSET_STREAM, ServerInfo, TusClient, require


def test_override_patch_appends_bytes(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """POST with X-HTTP-Method-Override: PATCH appends like a PATCH (204 + new offset)."""
    url = new_upload(10)
    response = tus.post(
        {
            "X-HTTP-Method-Override": "PATCH",
            "Content-Type": OFFSET_STREAM,
            "Upload-Offset": "0",
        },
        content=b"hello",
        url=url,
    )
    assert response.status_code == 204, f"answered {response.status_code}"
    assert response.headers.get("upload-offset") == "5"
    assert tus.offset_of(url) == 5


def test_override_head_reports_offset(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """POST with X-HTTP-Method-Override: HEAD answers like a HEAD (Upload-Offset, no creation)."""
    url = new_upload(10)
    assert tus.patch(url, 0, b"abc").status_code == 204
    response = tus.post({"X-HTTP-Method-Override": "HEAD"}, url=url)
    assert response.status_code in (200, 204), f"answered {response.status_code}"
    assert response.headers.get("upload-offset") == "3"
    assert response.headers.get("upload-length") == "10"


def test_override_delete_terminates(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]
) -> None:
    """POST with X-HTTP-Method-Override: DELETE terminates the upload (204, then 404/410)."""
    require(server, "termination")
    url = new_upload(10)
    response = tus.post({"X-HTTP-Method-Override": "DELETE"}, url=url)
    assert response.status_code == 204, f"answered {response.status_code}"
    assert tus.head(url).status_code in (404, 410)
