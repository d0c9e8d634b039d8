"""Extension concatenation: partial uploads joined into a final upload."""

from __future__ import annotations

from urllib.parse import urlsplit

from tus_support import ServerInfo, TusClient, pattern_bytes, poll, require, sha256_hex


def make_partial(tus: TusClient, data: bytes) -> str:
    response = tus.create(len(data), headers={"Upload-Concat": "partial"})
    assert response.status_code == 201, f"partial creation answered {response.status_code}"
    url = tus.resolve(response)
    assert tus.patch(url, 0, data).status_code == 204
    return url


def make_final(tus: TusClient, partial_urls: list[str]) -> str:
    value = "final;" + " ".join(urlsplit(u).path for u in partial_urls)
    response = tus.post({"Upload-Concat": value})
    assert response.status_code == 201, f"final creation answered {response.status_code}"
    return tus.resolve(response)


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
    final_url = make_final(tus, [make_partial(tus, first), make_partial(tus, second)])
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
    final_url = make_final(tus, urls)
    concat = tus.head(final_url).headers.get("upload-concat", "")
    assert concat.startswith("final;"), f"Upload-Concat on HEAD is {concat!r}"
    listed = [urlsplit(u).path for u in concat.removeprefix("final;").split()]
    assert listed == [urlsplit(u).path for u in urls]


def test_patch_on_final_upload_gets_403(tus: TusClient, server: ServerInfo) -> None:
    """PATCH against a final upload gets 403."""
    require(server, "concatenation")
    final_url = make_final(tus, [make_partial(tus, b"ab")])
    response = tus.patch(final_url, 2, b"zz")
    assert response.status_code == 403, f"answered {response.status_code}"


def test_final_of_unfinished_partials_completes_when_they_do(tus: TusClient, server: ServerInfo) -> None:
    """concatenation-unfinished: a final made before its partials finish completes after them."""
    require(server, "concatenation-unfinished")
    first, second = pattern_bytes(300, seed=33), pattern_bytes(200, seed=34)
    partials = []
    for data in (first, second):
        response = tus.create(len(data), headers={"Upload-Concat": "partial"})
        assert response.status_code == 201
        partials.append(tus.resolve(response))
    final_url = make_final(tus, partials)
    total = len(first) + len(second)
    early = tus.head(final_url)
    assert early.status_code in (200, 204), f"HEAD on the final answered {early.status_code}"
    early_offset = early.headers.get("upload-offset")
    assert early_offset is None or int(early_offset) < total, "final complete before its partials"
    for url, data in zip(partials, (first, second), strict=True):
        assert tus.patch(url, 0, data).status_code == 204

    def complete() -> bool:
        head = tus.head(final_url)
        return bool(head.headers.get("upload-offset") == str(total))

    assert poll(complete, timeout=5.0, interval=0.1), "final upload never completed"
    download = tus.get(final_url)
    if download.status_code == 200:
        assert sha256_hex(download.content) == sha256_hex(first + second)
