"""Upload-Checksum: "<algorithm> <base64 digest>" and the hashers that verify it."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol

from zlib_ng import zlib_ng

from tusportal.errors import InvalidChecksum, UnsupportedChecksumAlgorithm

SUPPORTED_ALGORITHMS: tuple[str, ...] = ("sha1", "md5", "sha256", "sha512", "crc32")
DIGEST_SIZES: dict[str, int] = {"sha1": 20, "md5": 16, "sha256": 32, "sha512": 64, "crc32": 4}
_OWS = " \t"


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # always lowercase, one of SUPPORTED_ALGORITHMS
    digest: bytes


class Hasher(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...

    def digest(self) -> bytes: ...


def _unsupported(name: str) -> UnsupportedChecksumAlgorithm:
    supported = ", ".join(SUPPORTED_ALGORITHMS)
    return UnsupportedChecksumAlgorithm(f"unsupported checksum algorithm {name!r}; supported: {supported}")


def parse_checksum(header: str | None) -> Checksum | None:
    """None when the header is absent; the unknown-algorithm check wins over a malformed digest."""
    if header is None:
        return None
    name, space, encoded = header.strip(_OWS).partition(" ")
    if not space or not name or not encoded:
        raise InvalidChecksum()
    # names are matched exactly, as advertised in Tus-Checksum-Algorithm (tusd does the same)
    algorithm = name
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise _unsupported(name)
    if len(encoded) % 4:
        raise InvalidChecksum(f"the {algorithm} digest is not valid base64")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidChecksum(f"the {algorithm} digest is not valid base64") from None
    if len(digest) != DIGEST_SIZES[algorithm]:
        raise InvalidChecksum(f"a {algorithm} digest has {DIGEST_SIZES[algorithm]} bytes, got {len(digest)}")
    return Checksum(algorithm, digest)


class _HashlibHasher:
    def __init__(self, algorithm: str) -> None:
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()


class _Crc32Hasher:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | memoryview) -> None:
        self._value = zlib_ng.crc32(data, self._value)  # the same CRC-32 as zlib's, faster

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hasher; raises `UnsupportedChecksumAlgorithm` for a name not in the list."""
    name = algorithm.lower()
    if name == "crc32":
        return _Crc32Hasher()
    if name in SUPPORTED_ALGORITHMS:
        return _HashlibHasher(name)
    raise _unsupported(algorithm)
