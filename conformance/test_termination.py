"""Extension termination: DELETE."""

from __future__ import annotations

from collections.abc import Callable

from tus_support import TUS_VERSION, ServerInfo, TusClient, require

GONE = (404, 410)


def test_delete_answers_204(tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]) -> None:
    """DELETE on an existing upload answers 204 with Tus-Resumable."""
    require(server, "termination")
    response = tus.delete(new_upload(10))
    assert response.status_code == 204, f"answered {response.status_code}"
    assert response.headers.get("tus-resumable") == TUS_VERSION


def test_head_after_delete_gets_404_or_410(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]
) -> None:
    """After DELETE, HEAD on the upload gets 404 or 410."""
    require(server, "termination")
    url = new_upload(10)
    assert tus.delete(url).status_code == 204
    response = tus.head(url)
    assert response.status_code in GONE, f"answered {response.status_code}"
    assert "upload-offset" not in response.headers


def test_patch_after_delete_gets_404_or_410(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]
) -> None:
    """After DELETE, PATCH on the upload gets 404 or 410."""
    require(server, "termination")
    url = new_upload(10)
    assert tus.patch(url, 0, b"abc").status_code == 204
    assert tus.delete(url).status_code == 204
    response = tus.patch(url, 3, b"def")
    assert response.status_code in GONE, f"answered {response.status_code}"


def test_delete_twice_gets_404_or_410(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]
) -> None:
    """A second DELETE of the same upload gets 404 or 410."""
    require(server, "termination")
    url = new_upload(10)
    assert tus.delete(url).status_code == 204
    response = tus.delete(url)
    assert response.status_code in GONE, f"answered {response.status_code}"


def test_delete_completed_upload_answers_204(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str]
) -> None:
    """DELETE also terminates a completed upload (204, then HEAD 404/410)."""
    require(server, "termination")
    url = new_upload(3)
    assert tus.patch(url, 0, b"abc").status_code == 204
    assert tus.delete(url).status_code == 204
    assert tus.head(url).status_code in GONE
