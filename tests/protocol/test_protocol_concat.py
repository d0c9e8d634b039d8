import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.errors import InvalidConcat
from tusportal.protocol import (
    Final,
    Partial,
    parse_concat,
    serialize_concat,
    upload_id_from_url,
)

url_chars = [chr(c) for c in range(0x21, 0x7F)]
urls = st.lists(st.text(alphabet=url_chars, min_size=1, max_size=40), min_size=1, max_size=10)
concats = st.just(Partial()) | urls.map(lambda u: Final(tuple(u)))


@given(concats)
def test_round_trip(c):
    assert parse_concat(serialize_concat(c)) == c


def test_absent():
    assert parse_concat(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("partial", Partial()),
        (" partial ", Partial()),
        ("final;/files/a /files/b", Final(("/files/a", "/files/b"))),
        ("final; /files/a   /files/b ", Final(("/files/a", "/files/b"))),
        ("final;http://h/files/a", Final(("http://h/files/a",))),
    ],
)
def test_accepted(header, expected):
    assert parse_concat(header) == expected


def test_serialize():
    assert serialize_concat(Partial()) == "partial"
    assert serialize_concat(Final(("/files/a", "/files/b"))) == "final;/files/a /files/b"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Partial",
        "partial;",
        "partially",
        "final",
        "final;",
        "final;   ",
        "final /files/a",
        "FINAL;/files/a",
        "final:/files/a",
        "final;/files/a\x00",
        "final;/files/ä",
        "unknown",
    ],
)
def test_rejected(header):
    with pytest.raises(InvalidConcat):
        parse_concat(header)


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/files/abc", "/files/", "abc"),
        ("http://h/files/abc", "/files/", "abc"),
        ("https://h:8443/files/abc?x=1#f", "/files/", "abc"),
        ("/files/abc", "/files", "abc"),
        ("/api/v1/files/abc", "/api/v1/files/", "abc"),
        ("/abc", "/", "abc"),
        ("/files/", "/files/", None),
        ("/files", "/files/", None),
        ("/other/abc", "/files/", None),
        ("/files/abc/def", "/files/", None),
        ("/filesabc", "/files/", None),
        ("files/abc", "/files/", None),
        ("http://[::1/files/abc", "/files/", None),
        ("", "/files/", None),
    ],
)
def test_upload_id_from_url(url, base, expected):
    assert upload_id_from_url(url, base) == expected
