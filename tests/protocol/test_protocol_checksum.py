import base64
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.errors import InvalidChecksum, UnsupportedChecksumAlgorithm
from tusportal.protocol import SUPPORTED_ALGORITHMS, Checksum, new_hasher, parse_checksum

# Published vectors for b"abc" (FIPS 180 / RFC 1321) and the CRC-32 check value for "123456789".
VECTORS = [
    ("sha1", b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("md5", b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    ("sha256", b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        "sha512",
        b"abc",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    ("crc32", b"123456789", "cbf43926"),
    ("md5", b"", "d41d8cd98f00b204e9800998ecf8427e"),
    ("crc32", b"", "00000000"),
]


@pytest.mark.parametrize(("algorithm", "data", "hex_digest"), VECTORS)
def test_hasher_vectors(algorithm, data, hex_digest):
    hasher = new_hasher(algorithm)
    hasher.update(data)
    assert hasher.digest() == bytes.fromhex(hex_digest)


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
@given(chunks=st.lists(st.binary(max_size=100), max_size=10))
def test_hasher_incremental_matches_one_shot(algorithm, chunks):
    hasher = new_hasher(algorithm)
    for chunk in chunks:
        hasher.update(memoryview(chunk))
    data = b"".join(chunks)
    if algorithm == "crc32":
        expected = zlib.crc32(data).to_bytes(4, "big")
    else:
        expected = hashlib.new(algorithm, data).digest()
    assert hasher.digest() == expected


def test_new_hasher_unknown():
    with pytest.raises(UnsupportedChecksumAlgorithm):
        new_hasher("whirlpool")


@pytest.mark.parametrize(("algorithm", "data", "hex_digest"), VECTORS)
def test_parse_checksum(algorithm, data, hex_digest):
    digest = bytes.fromhex(hex_digest)
    header = f"{algorithm} {base64.b64encode(digest).decode()}"
    assert parse_checksum(header) == Checksum(algorithm, digest)


def test_parse_checksum_spec_example():
    parsed = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
    assert parsed is not None
    assert parsed.algorithm == "sha1"
    assert len(parsed.digest) == 20


def test_parse_checksum_tolerates_surrounding_whitespace():
    parsed = parse_checksum("  sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0= ")
    assert parsed is not None
    assert parsed.algorithm == "sha1"


def test_algorithm_names_match_exactly_as_advertised():
    with pytest.raises(UnsupportedChecksumAlgorithm):
        parse_checksum("SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")


def test_parse_checksum_absent():
    assert parse_checksum(None) is None


@pytest.mark.parametrize("header", ["whirlpool AAAA", "sha3 AAAA", "crc64 AAAAAAAAAAA=", "x y"])
def test_unsupported_algorithm(header):
    with pytest.raises(UnsupportedChecksumAlgorithm) as info:
        parse_checksum(header)
    name = header.split()[0]
    assert name in info.value.detail
    assert all(a in info.value.detail for a in SUPPORTED_ALGORITHMS)


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        "sha1",
        "sha1Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1 ",
        " Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1  Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0",  # no padding
        "sha1 Kq5sNclPz7QV2-lfQIuc6R7oRu0=",  # URL-safe alphabet
        "sha1 !!!!",
        "sha1 " + base64.b64encode(b"x" * 16).decode(),  # md5-sized digest
        "md5 " + base64.b64encode(b"x" * 20).decode(),
        "sha256 " + base64.b64encode(b"x" * 31).decode(),
        "sha512 " + base64.b64encode(b"x" * 32).decode(),
        "crc32 " + base64.b64encode(b"x" * 8).decode(),
        "crc32 " + base64.b64encode(b"x" * 4).decode() + " extra",
    ],
)
def test_invalid_checksum(header):
    with pytest.raises(InvalidChecksum):
        parse_checksum(header)
