import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.errors import InvalidMetadata
from tusportal.protocol import (
    filename_and_type,
    metadata_text,
    parse_metadata,
    serialize_metadata,
)

KEY_CHARS = [chr(c) for c in range(0x21, 0x7F) if chr(c) != ","]
keys = st.text(alphabet=KEY_CHARS, min_size=1, max_size=20)
values = st.none() | st.binary(min_size=1, max_size=64)
metadata = st.dictionaries(keys, values, max_size=20)


def b64(s: bytes) -> str:
    return base64.b64encode(s).decode()


@given(metadata)
def test_round_trip(m):
    assert parse_metadata(serialize_metadata(m)) == m


@given(metadata)
def test_serialize_is_stable(m):
    header = serialize_metadata(m)
    assert serialize_metadata(parse_metadata(header)) == header


def test_spec_example():
    header = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"
    assert parse_metadata(header) == {
        "filename": b"world_domination_plan.pdf",
        "is_confidential": None,
    }


@pytest.mark.parametrize("header", [None, "", "   ", "\t"])
def test_empty(header):
    assert parse_metadata(header) == {}


def test_whitespace_around_the_whole_header_tolerated():
    header = f"  a {b64(b'x')},b,c {b64(b'yz')}  "
    assert parse_metadata(header) == {"a": b"x", "b": None, "c": b"yz"}


@pytest.mark.parametrize("header", [f"a {b64(b'x')}, b", f"a {b64(b'x')} ,b", f"a {b64(b'x')},\tb"])
def test_whitespace_around_pairs_rejected(header):
    with pytest.raises(InvalidMetadata):
        parse_metadata(header)


def test_empty_value_is_none():
    assert parse_metadata("key ") == {"key": None}
    assert serialize_metadata({"key": b""}) == "key"


def test_insertion_order_kept():
    m = {"z": b"1", "a": None, "m": b"2"}
    assert serialize_metadata(m) == f"z {b64(b'1')},a,m {b64(b'2')}"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("filename YQ==,filename Yg==", "duplicate key 'filename'"),
        ("name !!!!", "value of 'name' is not valid base64"),
        ("name YQ", "value of 'name' is not valid base64"),  # missing padding
        ("name YWJj=", "value of 'name' is not valid base64"),  # length not multiple of 4
        ("name YW Jj", "more than one space"),
        ("name  YWJj", "more than one space"),
        ("name YWJj\n", "not valid base64"),
        ("name YWJj,", "empty pair"),
        (",name YWJj", "empty pair"),
        ("a,,b", "empty pair"),
        ("na\tme YWJj", "invalid key"),
        ("näme YWJj", "invalid key"),
        ("na\x00me", "invalid key"),
        ("name\r\nX-Injected: 1", "invalid key"),
        ("name -_-_", "not valid base64"),  # URL-safe alphabet is not standard base64
    ],
)
def test_rejected(header, message):
    with pytest.raises(InvalidMetadata, match=message):
        parse_metadata(header)


def test_too_long():
    header = "k " + "A" * (64 * 1024)
    with pytest.raises(InvalidMetadata, match="longer"):
        parse_metadata(header)


def test_too_many_pairs():
    assert len(parse_metadata(",".join(f"k{i}" for i in range(256)))) == 256
    with pytest.raises(InvalidMetadata, match="pairs"):
        parse_metadata(",".join(f"k{i}" for i in range(257)))


@pytest.mark.parametrize("key", ["", "a b", "a,b", "ä", "a\n"])
def test_serialize_rejects_bad_keys(key):
    with pytest.raises(ValueError):
        serialize_metadata({key: b"x"})


def test_metadata_text():
    m = {"filename": "résumé.pdf".encode(), "flag": None, "bin": b"\xff\xfe"}
    assert metadata_text(m) == {"filename": "résumé.pdf", "flag": None, "bin": "\ufffd\ufffd"}


@pytest.mark.parametrize(
    ("m", "expected"),
    [
        ({}, (None, None)),
        ({"filename": b"a.png", "filetype": b"image/png"}, ("a.png", "image/png")),
        ({"name": b"b.txt", "type": b"text/plain"}, ("b.txt", "text/plain")),
        ({"filename": b"a", "name": b"b"}, ("a", None)),
        ({"name": b"b", "filename": b"a"}, ("a", None)),
        ({"contentType": b"x/y"}, (None, "x/y")),
        ({"content-type": b"x/z"}, (None, "x/z")),
        ({"content-type": b"x/z", "filetype": b"x/a"}, (None, "x/a")),
        ({"filename": None, "name": b"fallback"}, ("fallback", None)),
        ({"filename": b"\xff.bin"}, ("\ufffd.bin", None)),
    ],
)
def test_filename_and_type(m, expected):
    assert filename_and_type(m) == expected
