"""Extension checksum: Upload-Checksum on PATCH."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

import pytest
from tus_support import ServerInfo, TusClient, pattern_bytes, require

ALGORITHMS = ["sha1", "md5", "sha256", "sha512", "crc32"]


def digest(algorithm: str, data: bytes) -> str:
    """Base64 of the binary digest, as Upload-Checksum carries it (crc32: 4 bytes big-endian)."""
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    else:
        raw = hashlib.new(algorithm, data).digest()
    return base64.b64encode(raw).decode("ascii")


def require_algorithm(server: ServerInfo, algorithm: str) -> None:
    require(server, "checksum")
    if algorithm != "sha1" and algorithm not in server.checksum_algorithms:
        pytest.skip(f"server does not advertise '{algorithm}' in Tus-Checksum-Algorithm")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_correct_digest_gets_204(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str], algorithm: str
) -> None:
    """A PATCH whose Upload-Checksum matches the body answers 204 and advances the offset."""
    require_algorithm(server, algorithm)
    url = new_upload(2048)
    body = pattern_bytes(1024, seed=7)
    response = tus.patch(url, 0, body, {"Upload-Checksum": f"{algorithm} {digest(algorithm, body)}"})
    assert response.status_code == 204, f"answered {response.status_code}: {response.text[:200]}"
    assert response.headers.get("upload-offset") == "1024"
    assert tus.offset_of(url) == 1024


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_wrong_digest_gets_460_and_offset_unchanged(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str], algorithm: str
) -> None:
    """A PATCH whose Upload-Checksum does not match gets 460; the chunk is discarded."""
    require_algorithm(server, algorithm)
    url = new_upload(2048)
    assert tus.patch(url, 0, b"first").status_code == 204
    body = pattern_bytes(1024, seed=8)
    wrong = digest(algorithm, body + b"x")
    response = tus.patch(url, 5, body, {"Upload-Checksum": f"{algorithm} {wrong}"})
    assert response.status_code == 460, f"answered {response.status_code}"
    assert tus.offset_of(url) == 5
    # The discarded chunk must not linger: the same offset accepts the right bytes.
    good = tus.patch(url, 5, body, {"Upload-Checksum": f"{algorithm} {digest(algorithm, body)}"})
    assert good.status_code == 204


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("nosuchalgo " + base64.b64encode(b"x" * 20).decode(), id="unknown-algorithm"),
        pytest.param("sha1", id="no-digest"),
        pytest.param("sha1 !!!not-base64!!!", id="non-base64-digest"),
        pytest.param("sha1  " + base64.b64encode(b"x" * 20).decode(), id="double-space"),
        pytest.param("SHA1 " + base64.b64encode(b"x" * 20).decode(), id="uppercase-name"),
    ],
)
def test_checksum_unknown_algorithm_or_malformed_gets_400(
    tus: TusClient, server: ServerInfo, new_upload: Callable[..., str], header: str
) -> None:
    """An unsupported algorithm or malformed Upload-Checksum gets 400; the offset is unchanged."""
    require(server, "checksum")
    url = new_upload(100)
    response = tus.patch(url, 0, b"hello world", {"Upload-Checksum": header})
    assert response.status_code == 400, f"{header!r} answered {response.status_code}"
    assert tus.offset_of(url) == 0
