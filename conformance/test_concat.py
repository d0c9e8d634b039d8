"""Extension concatenation: partial uploads joined into a final upload."""

from __future__ import annotations

from urllib.parse import urlsplit

from tus_support import ServerInfo, TusClient, pattern_bytes, require, sha256_hex


def make_partial(tus: TusClient, data: bytes) -> str:
    response = tus.create(len(data), headers={"Upload-Concat": "partial"})
    assert response.status_code == 201, f"partial creation answered {response.status_code}"
    url = tus.resolve(response)
    assert tus.patch(url, 0, data).status_code == 204
    return url


def test_partial_upload_head_shows_upload_concat_partial(tus: TusClient, server: ServerInfo) -> None:
    """HEAD on a partial upload shows Upload-Concat: partial and its offset."""
    require(server, "concatenation")
    url = make_partial(tus, b"hello")
    head = tus.head(url)
    assert head.headers.get("upload-concat") == "partial"
    assert head.headers.get("upload-offset") == "5"


def test_final_upload_concatenates_partials_in_order(tus: TusClient, server: ServerInfo) -> None:
    """A final upload of two finished partials is complete with length = sum of the partials."""
    require(server, "concatenation")
    first, second = pattern_bytes(1000, seed=31), pattern_bytes(777, seed=32)
    urls = [make_partial(tus, first), make_partial(tus, second)]
    response = tus.post({"Upload-Concat": "final;" + " ".join(urlsplit(u).path for u in urls)})
    assert response.status_code == 201, f"final creation answered {response.status_code}"
    final_url = tus.resolve(response)
    head = tus.head(final_url)
    assert head.headers.get("upload-length") == str(len(first) + len(second))
    assert head.headers.get("upload-offset") == head.headers.get("upload-length")
    download = tus.get(final_url)
    if download.status_code == 200:
        assert sha256_hex(download.content) == sha256_hex(first + second)


def test_final_upload_head_shows_upload_concat(tus: TusClient, server: ServerInfo) -> None:
    """HEAD on a final upload shows Upload-Concat: final;<the partial URLs as sent>."""
    require(server, "concatenation")
    urls = [make_partial(tus, b"ab"), make_partial(tus, b"cd")]
    value = "final;" + " ".join(urlsplit(u).path for u in urls)
    final_url = tus.resolve(tus.post({"Upload-Concat": value}))
    concat = tus.head(final_url).headers.get("upload-concat", "")
    assert concat.startswith("final;"), f"Upload-Concat on HEAD is {concat!r}"
    listed = [urlsplit(u).path for u in concat.removeprefix("final;").split()]
    assert listed == [urlsplit(u).path for u in urls]


def test_patch_on_final_upload_gets_403(tus: TusClient, server: ServerInfo) -> None:
    """PATCH against a final upload gets 403."""
    require(server, "concatenation")
    urls = [make_partial(tus, b"ab")]
    final_url = tus.resolve(tus.post({"Upload-Concat": "final;" + urlsplit(urls[0]).path}))
    response = tus.patch(final_url, 2, b"zz")
    assert response.status_code == 403, f"answered {response.status_code}"
