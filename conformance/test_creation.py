"""Extensions creation, creation-with-upload and creation-defer-length."""

from __future__ import annotations

import pytest
from tus_support import (
    OFFSET_STREAM,
    TUS_VERSION,
    ServerInfo,
    TusClient,
    b64,
    encode_metadata,
    pattern_bytes,
    require,
)

GARBAGE_LENGTHS = ["-1", "abc", "1.5", "1e3", "0x10", "10 20"]

# --- creation ------------------------------------------------------------------------------


def test_post_creates_upload_201_with_location(tus: TusClient, server: ServerInfo) -> None:
    """POST with Upload-Length answers 201 + Location; the resolved URL answers HEAD at offset 0."""
    require(server, "creation")
    response = tus.create(42)
    assert response.status_code == 201, f"answered {response.status_code}"
    assert response.headers.get("location"), "201 without Location"
    assert response.headers.get("tus-resumable") == TUS_VERSION
    head = tus.head(tus.resolve(response))
    assert head.status_code in (200, 204)
    assert head.headers.get("upload-offset") == "0"
    assert head.headers.get("upload-length") == "42"


def test_post_zero_length_upload_is_complete(tus: TusClient, server: ServerInfo) -> None:
    """An upload created with Upload-Length: 0 is complete at once (offset 0 = length 0)."""
    require(server, "creation")
    response = tus.create(0)
    assert response.status_code == 201
    head = tus.head(tus.resolve(response))
    assert head.headers.get("upload-offset") == "0"
    assert head.headers.get("upload-length") == "0"


def test_post_each_upload_gets_a_distinct_url(tus: TusClient, server: ServerInfo) -> None:
    """Two creations get two different upload URLs."""
    require(server, "creation")
    first, second = tus.create(1), tus.create(1)
    assert tus.resolve(first) != tus.resolve(second)


def test_post_without_length_or_defer_gets_400(tus: TusClient, server: ServerInfo) -> None:
    """POST with neither Upload-Length nor Upload-Defer-Length gets 400."""
    require(server, "creation")
    response = tus.post({})
    assert response.status_code == 400, f"answered {response.status_code}"


@pytest.mark.parametrize("value", GARBAGE_LENGTHS)
def test_post_with_malformed_upload_length_gets_400(tus: TusClient, server: ServerInfo, value: str) -> None:
    """POST with a negative or non-integer Upload-Length gets 400."""
    require(server, "creation")
    response = tus.post({"Upload-Length": value})
    assert response.status_code == 400, f"Upload-Length {value!r} answered {response.status_code}"


def test_post_over_tus_max_size_gets_413(tus: TusClient, server: ServerInfo) -> None:
    """POST with Upload-Length above the advertised Tus-Max-Size gets 413."""
    require(server, "creation")
    if server.max_size is None:
        pytest.skip("server does not advertise Tus-Max-Size")
    response = tus.create(server.max_size + 1)
    assert response.status_code == 413, f"answered {response.status_code}"


def test_post_at_tus_max_size_is_accepted(tus: TusClient, server: ServerInfo) -> None:
    """POST with Upload-Length exactly the advertised Tus-Max-Size is accepted."""
    require(server, "creation")
    if server.max_size is None:
        pytest.skip("server does not advertise Tus-Max-Size")
    response = tus.create(server.max_size)
    assert response.status_code == 201, f"answered {response.status_code}"


# --- Upload-Metadata -----------------------------------------------------------------------


def test_head_returns_upload_metadata_exactly_as_sent(tus: TusClient, server: ServerInfo) -> None:
    """HEAD returns Upload-Metadata exactly as it was sent at creation."""
    require(server, "creation")
    sent = encode_metadata({"filename": "world_domination_plan.pdf", "filetype": "text/plain"})
    response = tus.create(10, metadata=sent)
    assert response.status_code == 201
    assert tus.head(tus.resolve(response)).headers.get("upload-metadata") == sent


def test_metadata_key_without_value_is_accepted(tus: TusClient, server: ServerInfo) -> None:
    """A metadata key with an empty value (no space) is accepted and returned by HEAD."""
    require(server, "creation")
    sent = f"filename {b64('a.txt')},is_confidential"
    response = tus.create(10, metadata=sent)
    assert response.status_code == 201, f"answered {response.status_code}"
    returned = tus.head(tus.resolve(response)).headers.get("upload-metadata", "")
    keys = [pair.strip().split(" ")[0] for pair in returned.split(",")]
    assert sorted(keys) == ["filename", "is_confidential"], f"HEAD metadata {returned!r}"


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param(f"name {b64('a')},name {b64('b')}", id="duplicate-key"),
        # The grammar has no whitespace around commas, so " YQ==" is a pair with an empty key.
        pytest.param(f"name {b64('a')}, {b64('b')}", id="empty-key"),
        pytest.param(f"name {b64('a')},,other {b64('b')}", id="empty-pair"),
        pytest.param("name not*base64!", id="non-base64-value"),
        pytest.param("name YWJj=", id="bad-base64-padding"),
        pytest.param(f"name {b64('a')} extra", id="three-fields"),
    ],
)
def test_malformed_upload_metadata_gets_400(tus: TusClient, server: ServerInfo, metadata: str) -> None:
    """Malformed Upload-Metadata (duplicate or empty key, non-base64 value) gets 400."""
    require(server, "creation")
    response = tus.create(10, metadata=metadata)
    assert response.status_code == 400, f"{metadata!r} answered {response.status_code}"


# --- creation-with-upload ------------------------------------------------------------------


def test_creation_with_upload_returns_offset_of_body(tus: TusClient, server: ServerInfo) -> None:
    """POST with a body (offset+octet-stream) answers 201 with Upload-Offset = body length."""
    require(server, "creation-with-upload")
    body = pattern_bytes(1000)
    response = tus.create(5000, content=body)
    assert response.status_code == 201, f"answered {response.status_code}"
    assert response.headers.get("upload-offset") == "1000"
    assert tus.offset_of(tus.resolve(response)) == 1000


def test_creation_with_upload_whole_file_completes(tus: TusClient, server: ServerInfo) -> None:
    """POST carrying the entire file completes the upload (offset = length)."""
    require(server, "creation-with-upload")
    response = tus.create(64, content=pattern_bytes(64))
    assert response.status_code == 201
    head = tus.head(tus.resolve(response))
    assert head.headers.get("upload-offset") == "64"
    assert head.headers.get("upload-length") == "64"


def test_creation_with_upload_body_over_length_is_rejected(tus: TusClient, server: ServerInfo) -> None:
    """POST with a body longer than Upload-Length gets 413 and creates nothing usable."""
    require(server, "creation-with-upload")
    response = tus.post({"Upload-Length": "10", "Content-Type": OFFSET_STREAM}, content=pattern_bytes(20))
    assert response.status_code == 413, f"answered {response.status_code}"


# --- creation-defer-length -----------------------------------------------------------------


def test_defer_length_head_shows_upload_defer_length(tus: TusClient, server: ServerInfo) -> None:
    """Upload-Defer-Length: 1 creates an upload whose HEAD shows Upload-Defer-Length: 1."""
    require(server, "creation-defer-length")
    response = tus.create(None)
    assert response.status_code == 201, f"answered {response.status_code}"
    head = tus.head(tus.resolve(response))
    assert head.headers.get("upload-defer-length") == "1"
    assert "upload-length" not in head.headers


def test_defer_length_patch_sets_upload_length(tus: TusClient, server: ServerInfo) -> None:
    """A PATCH carrying Upload-Length sets the deferred length; HEAD then shows it."""
    require(server, "creation-defer-length")
    url = tus.resolve(tus.create(None))
    response = tus.patch(url, 0, b"hello", {"Upload-Length": "11"})
    assert response.status_code == 204, f"answered {response.status_code}"
    head = tus.head(url)
    assert head.headers.get("upload-length") == "11"
    assert "upload-defer-length" not in head.headers
    assert tus.patch(url, 5, b" world").status_code == 204
    assert tus.offset_of(url) == 11


def test_defer_length_cannot_be_changed_once_set(tus: TusClient, server: ServerInfo) -> None:
    """Once set, a different Upload-Length on a later PATCH gets 400; the length stays."""
    require(server, "creation-defer-length")
    url = tus.resolve(tus.create(None))
    assert tus.patch(url, 0, b"hello", {"Upload-Length": "11"}).status_code == 204
    response = tus.patch(url, 5, b" w", {"Upload-Length": "20"})
    assert response.status_code == 400, f"answered {response.status_code}"
    head = tus.head(url)
    assert head.headers.get("upload-length") == "11"
    assert head.headers.get("upload-offset") == "5"


@pytest.mark.parametrize("value", ["0", "2", "true", "-1", "1 1"])
def test_defer_length_other_than_1_gets_400(tus: TusClient, server: ServerInfo, value: str) -> None:
    """Upload-Defer-Length with any value other than 1 gets 400."""
    require(server, "creation-defer-length")
    response = tus.post({"Upload-Defer-Length": value})
    assert response.status_code == 400, f"{value!r} answered {response.status_code}"


def test_defer_length_with_body_then_length_completes(tus: TusClient, server: ServerInfo) -> None:
    """A deferred upload receives data before its length is known, then completes."""
    require(server, "creation-defer-length")
    url = tus.resolve(tus.create(None))
    assert tus.patch(url, 0, b"abc").status_code == 204
    assert tus.patch(url, 3, b"def", {"Upload-Length": "6"}).status_code == 204
    head = tus.head(url)
    assert head.headers.get("upload-offset") == "6"
    assert head.headers.get("upload-length") == "6"
