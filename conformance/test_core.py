"""tus core protocol: OPTIONS, Tus-Resumable, HEAD and PATCH."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tus_support import TUS_VERSION, ServerInfo, TusClient, header_list, pattern_bytes, require

# --- OPTIONS -------------------------------------------------------------------------------


def test_options_answers_204_or_200(tus: TusClient) -> None:
    """OPTIONS on the endpoint answers 204 or 200."""
    assert tus.options().status_code in (200, 204)


def test_options_lists_tus_version_1_0_0(tus: TusClient) -> None:
    """OPTIONS carries Tus-Version, and it includes 1.0.0."""
    versions = header_list(tus.options().headers.get("tus-version"))
    assert TUS_VERSION in versions, f"Tus-Version is {versions!r}"


def test_options_carries_tus_resumable(tus: TusClient) -> None:
    """OPTIONS responses carry Tus-Resumable: 1.0.0 like every other response."""
    assert tus.options().headers.get("tus-resumable") == TUS_VERSION


def test_options_ignores_unsupported_tus_resumable(tus: TusClient) -> None:
    """OPTIONS ignores the Tus-Resumable request header (no 412 for an unknown version)."""
    response = tus.options({"Tus-Resumable": "0.0.1"})
    assert response.status_code in (200, 204)


def test_options_tus_extension_is_a_clean_list(tus: TusClient) -> None:
    """Tus-Extension, when present, is a comma-separated list of known-looking names."""
    value = tus.options().headers.get("tus-extension")
    if value is None:
        return  # no extensions: header must be omitted, which it is
    names = header_list(value)
    assert names, "Tus-Extension is present but empty"
    for name in names:
        assert name == name.lower() and " " not in name, f"odd extension name {name!r}"
    assert len(names) == len(set(names)), f"duplicate extensions in {value!r}"


def test_options_creation_with_upload_requires_creation(server: ServerInfo) -> None:
    """creation-with-upload and creation-defer-length are only advertised with creation."""
    for dependent in ("creation-with-upload", "creation-defer-length"):
        if server.supports(dependent):
            assert server.supports("creation"), f"{dependent} advertised without creation"


def test_options_tus_max_size_is_a_non_negative_integer(tus: TusClient) -> None:
    """Tus-Max-Size, when advertised, is a non-negative integer."""
    value = tus.options().headers.get("tus-max-size")
    if value is None:
        pytest.skip("server does not advertise Tus-Max-Size")
    assert value.isdigit(), f"Tus-Max-Size is {value!r}"


def test_options_checksum_algorithms_include_sha1(server: ServerInfo) -> None:
    """With checksum advertised, Tus-Checksum-Algorithm is present and includes sha1."""
    require(server, "checksum")
    raw = server.headers.get("tus-checksum-algorithm")
    assert raw, "checksum advertised but OPTIONS has no Tus-Checksum-Algorithm"
    assert "sha1" in header_list(raw), f"Tus-Checksum-Algorithm is {raw!r}"
    for name in header_list(raw):
        assert name == name.lower() and name.isascii(), f"algorithm name {name!r}"


# --- Tus-Resumable -------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, "0.0.1", "2.0.0"], ids=["missing", "0.0.1", "2.0.0"])
@pytest.mark.parametrize("method", ["POST", "HEAD", "PATCH", "DELETE"])
def test_unsupported_tus_resumable_gets_412_with_tus_version(
    tus: TusClient, new_upload: Callable[..., str], method: str, version: str | None
) -> None:
    """A missing or unsupported Tus-Resumable gets 412 + Tus-Version and is not processed."""
    url = new_upload(10)
    if method == "POST":
        response = tus.post({"Upload-Length": "10"}, resumable=version)
    elif method == "HEAD":
        response = tus.head(url, resumable=version)
    elif method == "PATCH":
        response = tus.patch(url, 0, b"0123456789", resumable=version)
    else:
        response = tus.delete(url, resumable=version)
    assert response.status_code == 412, f"{method} answered {response.status_code}"
    assert TUS_VERSION in header_list(response.headers.get("tus-version")), (
        f"412 without Tus-Version listing 1.0.0: {response.headers.get('tus-version')!r}"
    )
    if method == "POST":
        assert "location" not in response.headers, "an upload was created despite the 412"
    if method in ("PATCH", "DELETE"):
        assert tus.offset_of(url) == 0, f"the {method} was processed despite the 412"


# --- HEAD ----------------------------------------------------------------------------------


def test_head_has_cache_control_no_store(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """HEAD responses carry Cache-Control: no-store."""
    response = tus.head(new_upload(10))
    directives = [d.lower() for d in header_list(response.headers.get("cache-control"))]
    assert "no-store" in directives, f"Cache-Control is {response.headers.get('cache-control')!r}"


def test_head_always_has_upload_offset(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """HEAD answers 200/204 with Upload-Offset, even when the offset is 0."""
    response = tus.head(new_upload(10))
    assert response.status_code in (200, 204)
    assert response.headers.get("upload-offset") == "0"


def test_head_on_completed_upload_has_upload_offset(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """HEAD on a completed upload still carries Upload-Offset (= Upload-Length)."""
    url = new_upload(10)
    assert tus.patch(url, 0, b"0123456789").status_code == 204
    response = tus.head(url)
    assert response.headers.get("upload-offset") == "10"
    assert response.headers.get("upload-length") == "10"


def test_head_has_upload_length_when_known(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """HEAD carries Upload-Length when the length is known."""
    assert tus.head(new_upload(1234)).headers.get("upload-length") == "1234"


def test_head_has_tus_resumable(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """HEAD responses carry Tus-Resumable: 1.0.0."""
    assert tus.head(new_upload(10)).headers.get("tus-resumable") == TUS_VERSION


# --- PATCH ---------------------------------------------------------------------------------


def test_patch_answers_204_with_new_offset(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """A PATCH at the current offset answers 204 with the new Upload-Offset; HEAD agrees."""
    url = new_upload(100)
    first = tus.patch(url, 0, b"a" * 30)
    assert first.status_code == 204
    assert first.headers.get("upload-offset") == "30"
    second = tus.patch(url, 30, b"b" * 70)
    assert second.status_code == 204
    assert second.headers.get("upload-offset") == "100"
    assert tus.offset_of(url) == 100


def test_patch_response_has_tus_resumable(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """PATCH responses carry Tus-Resumable: 1.0.0."""
    response = tus.patch(new_upload(10), 0, b"abc")
    assert response.headers.get("tus-resumable") == TUS_VERSION


@pytest.mark.parametrize(
    "content_type",
    [None, "application/octet-stream", "text/plain", "application/offset+octet-streamx"],
    ids=["missing", "octet-stream", "text-plain", "suffixed"],
)
def test_patch_with_wrong_content_type_gets_415(
    tus: TusClient, new_upload: Callable[..., str], content_type: str | None
) -> None:
    """PATCH without Content-Type application/offset+octet-stream gets 415, offset unchanged."""
    url = new_upload(10)
    response = tus.patch(url, 0, b"0123456789", content_type=content_type)
    assert response.status_code == 415, f"answered {response.status_code}"
    assert tus.offset_of(url) == 0


@pytest.mark.parametrize("claimed", [5, 1], ids=["ahead", "behind"])
def test_patch_offset_mismatch_gets_409_and_changes_nothing(
    tus: TusClient, new_upload: Callable[..., str], claimed: int
) -> None:
    """PATCH with an Upload-Offset other than the current one gets 409; the upload is unchanged."""
    url = new_upload(20)
    data = pattern_bytes(20)
    if claimed == 1:  # make the real offset 3 so "1" is behind it
        assert tus.patch(url, 0, data[:3]).status_code == 204
    before = tus.offset_of(url)
    response = tus.patch(url, claimed, data[claimed : claimed + 5])
    assert response.status_code == 409, f"answered {response.status_code}"
    assert tus.offset_of(url) == before


def test_patch_without_upload_offset_is_rejected(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """PATCH without Upload-Offset is rejected with a 4xx and changes nothing."""
    url = new_upload(10)
    response = tus.patch(url, None, b"0123456789")
    assert 400 <= response.status_code < 500, f"answered {response.status_code}"
    assert tus.offset_of(url) == 0


def test_patch_body_beyond_upload_length_gets_413_and_stores_nothing(
    tus: TusClient, new_upload: Callable[..., str]
) -> None:
    """A PATCH body running past Upload-Length gets 413; HEAD shows nothing stored past it."""
    url = new_upload(10)
    assert tus.patch(url, 0, b"abcd").status_code == 204
    response = tus.patch(url, 4, b"x" * 20)
    assert response.status_code == 413, f"answered {response.status_code}"
    head = tus.head(url)
    assert head.headers.get("upload-offset") == "4", "offset moved after a rejected PATCH"
    assert head.headers.get("upload-length") == "10"


def test_patch_on_completed_upload_is_rejected(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """A PATCH with bytes against a completed upload is rejected; the offset stays at the length."""
    url = new_upload(4)
    assert tus.patch(url, 0, b"abcd").status_code == 204
    response = tus.patch(url, 4, b"more")
    assert 400 <= response.status_code < 500, f"answered {response.status_code}"
    assert tus.offset_of(url) == 4


def test_patch_empty_body_keeps_offset(tus: TusClient, new_upload: Callable[..., str]) -> None:
    """An empty PATCH at the current offset answers 204 with the unchanged offset."""
    url = new_upload(10)
    response = tus.patch(url, 0, b"")
    assert response.status_code == 204
    assert response.headers.get("upload-offset") == "0"


# --- unknown uploads -----------------------------------------------------------------------


def test_head_unknown_upload_gets_404_without_offset(tus: TusClient) -> None:
    """HEAD on an unknown upload id gets 404 and no Upload-Offset."""
    response = tus.head(tus.unknown_url())
    assert response.status_code == 404, f"answered {response.status_code}"
    assert "upload-offset" not in response.headers


def test_patch_unknown_upload_gets_404(tus: TusClient) -> None:
    """PATCH on an unknown upload id gets 404."""
    response = tus.patch(tus.unknown_url(), 0, b"abc")
    assert response.status_code == 404, f"answered {response.status_code}"


def test_delete_unknown_upload_gets_404(tus: TusClient, server: ServerInfo) -> None:
    """DELETE on an unknown upload id gets 404 (termination)."""
    require(server, "termination")
    response = tus.delete(tus.unknown_url())
    assert response.status_code == 404, f"answered {response.status_code}"
