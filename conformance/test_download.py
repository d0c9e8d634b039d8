"""GET on finished uploads. Not part of tus: skipped when the server does not serve GET."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from tus_raw import RawRequest
from tus_support import TusClient, b64, encode_metadata, pattern_bytes, poll, sha256_hex

pytestmark = pytest.mark.download

Finished = Callable[..., tuple[str, httpx.Response]]


@pytest.fixture
def finished(tus: TusClient, new_upload: Callable[..., str]) -> Finished:
    """Factory: upload `data` completely, GET it, and skip when the server serves no GET."""

    def make(data: bytes, metadata: str | None = None) -> tuple[str, httpx.Response]:
        url = new_upload(len(data), metadata)
        assert tus.upload_rest(url, data) == len(data)
        response = tus.get(url)
        if response.status_code in (404, 405):
            pytest.skip(f"server answers GET on a finished upload with {response.status_code}")
        return url, response

    return make


def test_get_returns_the_uploaded_bytes(finished: Finished) -> None:
    """GET on a finished upload answers 200 with exactly the uploaded bytes."""
    data = pattern_bytes(300_000, seed=11)
    _, response = finished(data)
    assert response.status_code == 200
    assert sha256_hex(response.content) == sha256_hex(data)
    assert response.headers.get("content-length") in (None, str(len(data)))


def test_get_range_gives_206_with_content_range(tus: TusClient, finished: Finished) -> None:
    """GET with Range: bytes=a-b answers 206, Content-Range and exactly those bytes."""
    data = pattern_bytes(10_000, seed=12)
    url, _ = finished(data)
    response = tus.get(url, {"Range": "bytes=100-199"})
    assert response.status_code == 206, f"answered {response.status_code}"
    assert response.headers.get("content-range") == f"bytes 100-199/{len(data)}"
    assert response.content == data[100:200]


def test_get_suffix_range_gives_the_tail(tus: TusClient, finished: Finished) -> None:
    """GET with Range: bytes=-N answers 206 with the last N bytes."""
    data = pattern_bytes(5_000, seed=13)
    url, _ = finished(data)
    response = tus.get(url, {"Range": "bytes=-10"})
    assert response.status_code == 206, f"answered {response.status_code}"
    assert response.content == data[-10:]


def test_get_unsatisfiable_range_gets_416(tus: TusClient, finished: Finished) -> None:
    """GET with a Range starting past the end answers 416."""
    data = pattern_bytes(100, seed=14)
    url, _ = finished(data)
    response = tus.get(url, {"Range": "bytes=500-600"})
    assert response.status_code == 416, f"answered {response.status_code}"


def test_get_if_none_match_etag_gives_304(tus: TusClient, finished: Finished) -> None:
    """GET with If-None-Match set to the returned ETag answers 304 without a body."""
    url, response = finished(pattern_bytes(1000, seed=15))
    etag = response.headers.get("etag")
    assert etag, "GET returned no ETag"
    again = tus.get(url, {"If-None-Match": etag})
    assert again.status_code == 304, f"answered {again.status_code}"
    assert again.content == b""


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})')


def disposition_params(value: str) -> list[str] | None:
    """Parameter names of a Content-Disposition value, or None when it does not parse."""
    match = re.match(_TOKEN, value)
    if not match:
        return None
    names, position = [], match.end()
    while position < len(value):
        param = _PARAM.match(value, position)
        if not param:
            return None
        names.append(param.group(1).lower())
        position = param.end()
    return names


@pytest.mark.parametrize(
    "filename",
    [
        "evil\r\nX-Injected: yes\r\n.txt",
        "evil\nX-Injected: yes.txt",
        'a"; filename="other.exe',
        'quote"and\\backslash.txt',
    ],
    ids=["crlf", "lf", "quote-break-out", "quote-backslash"],
)
def test_get_filename_metadata_never_injects_headers(finished: Finished, filename: str) -> None:
    """A filename with CR/LF or quotes in metadata never injects a header or parameter."""
    metadata = f"filename {b64(filename)},filetype {b64('text/plain')}"
    _, response = finished(b"payload", metadata)
    assert response.status_code == 200
    assert "x-injected" not in response.headers, "a header was injected from the filename"
    disposition = response.headers.get("content-disposition", "")
    if disposition:
        names = disposition_params(disposition)
        assert names is not None, f"Content-Disposition does not parse: {disposition!r}"
        assert names.count("filename") <= 1, f"a parameter was injected: {disposition!r}"


@pytest.mark.parametrize("filetype", ["text/html", "image/svg+xml"])
def test_get_active_content_is_served_as_attachment(finished: Finished, filetype: str) -> None:
    """Uploads declared text/html or image/svg+xml are served with Content-Disposition: attachment."""
    metadata = encode_metadata({"filename": "page.html", "filetype": filetype})
    _, response = finished(b"<script>alert(1)</script>", metadata)
    assert response.status_code == 200
    disposition = response.headers.get("content-disposition", "")
    assert disposition.lower().startswith("attachment"), f"Content-Disposition {disposition!r}"


def test_get_client_disconnect_mid_download_keeps_server_up(tus: TusClient, finished: Finished) -> None:
    """A GET client that hangs up mid-download leaves the server answering."""
    data = pattern_bytes(8 * 1024 * 1024, seed=16)
    url, _ = finished(data)
    request = RawRequest(url, "GET", {}, timeout=10.0).start()
    assert request.sock is not None
    request.sock.recv(4096)  # the first bytes of the response, then hang up
    request.close()
    answered = poll(lambda: _answers(tus, url), timeout=3.0, interval=0.2)
    assert answered, "the server stopped answering after a GET client disconnected"


def _answers(tus: TusClient, url: str) -> bool:
    try:
        return tus.head(url, timeout=1.0).status_code in (200, 204)
    except httpx.HTTPError:
        return False
