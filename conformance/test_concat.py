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


def test_final_may_list_the_same_partial_twice(tus: TusClient, server: ServerInfo) -> None:
    """The same partial upload may appear more than once in a final upload."""
    require(server, "concatenation")
    first, second = pattern_bytes(500, seed=35), pattern_bytes(300, seed=36)
    a, b = make_partial(tus, first), make_partial(tus, second)
    final_url = make_final(tus, [a, b, a])
    total = 2 * len(first) + len(second)
    assert poll(lambda: tus.head(final_url).headers.get("upload-offset") == str(total), timeout=5.0)
    download = tus.get(final_url)
    if download.status_code == 200:
        assert sha256_hex(download.content) == sha256_hex(first + second + first)


def test_final_accepts_absolute_urls_and_a_space_after_the_semicolon(
    tus: TusClient, server: ServerInfo
) -> None:
    """Upload-Concat: final; <absolute url> <absolute url> is accepted."""
    require(server, "concatenation")
    urls = [make_partial(tus, b"xy"), make_partial(tus, b"z")]
    response = tus.post({"Upload-Concat": "final; " + " ".join(urls)})
    assert response.status_code == 201, f"answered {response.status_code}: {response.text}"
    final_url = tus.resolve(response)
    assert poll(lambda: tus.head(final_url).headers.get("upload-offset") == "3", timeout=5.0)


def _rejected_final(tus: TusClient, value: str, extra: dict[str, str] | None = None) -> int:
    response = tus.post({"Upload-Concat": value, **(extra or {})})
    assert response.text.strip() or response.status_code < 400, "a rejection must carry a message"
    return response.status_code


def test_final_with_upload_length_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """A final upload request must not carry Upload-Length: 400."""
    require(server, "concatenation")
    url = make_partial(tus, b"abc")
    assert _rejected_final(tus, "final;" + urlsplit(url).path, {"Upload-Length": "3"}) == 400


def test_final_without_parts_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """Upload-Concat: final; with no partial URLs: 400."""
    require(server, "concatenation")
    assert _rejected_final(tus, "final;") == 400


def test_final_over_unknown_upload_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """A final naming an upload that does not exist: 400 or 404."""
    require(server, "concatenation")
    assert _rejected_final(tus, "final;" + urlsplit(tus.unknown_url()).path) in (400, 404)


def test_final_over_non_partial_upload_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """A final naming a regular (non-partial) upload: 400, and that upload is unchanged."""
    require(server, "concatenation")
    regular = tus.create(3)
    url = tus.resolve(regular)
    assert tus.patch(url, 0, b"abc").status_code == 204
    assert _rejected_final(tus, "final;" + urlsplit(url).path) in (400, 404)
    head = tus.head(url)
    assert head.headers.get("upload-offset") == "3" and "upload-concat" not in head.headers


def test_final_larger_than_max_size_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """A final whose partials sum past Tus-Max-Size: 413."""
    require(server, "concatenation")
    if server.max_size is None:
        import pytest

        pytest.skip("server does not advertise Tus-Max-Size")
    half = server.max_size // 2 + 1
    urls = []
    for _ in range(2):
        response = tus.create(half, headers={"Upload-Concat": "partial"})
        assert response.status_code == 201
        urls.append(tus.resolve(response))
    assert _rejected_final(tus, "final;" + " ".join(urlsplit(u).path for u in urls)) == 413


def test_unfinished_final_head_omits_upload_offset(tus: TusClient, server: ServerInfo) -> None:
    """HEAD on a final whose partials are unfinished omits Upload-Offset (or shows less than the
    length) and shows Upload-Concat."""
    require(server, "concatenation-unfinished")
    response = tus.create(10, headers={"Upload-Concat": "partial"})
    partial = tus.resolve(response)
    final_url = make_final(tus, [partial])
    head = tus.head(final_url)
    assert head.headers.get("upload-concat", "").startswith("final;")
    offset = head.headers.get("upload-offset")
    assert offset is None or int(offset) < 10
    assert tus.patch(final_url, 0, b"x").status_code == 403
