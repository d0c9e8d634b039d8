import re
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.protocol import content_disposition, disposition_for, safe_content_type


def test_no_filename():
    assert content_disposition(None, "attachment") == "attachment"
    assert content_disposition("", "inline") == "inline"


def test_ascii_filename():
    assert (
        content_disposition("report.pdf", "attachment")
        == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )


def test_non_ascii_filename():
    value = content_disposition("résumé €.pdf", "inline")
    assert value == ("inline; filename=\"r_sum_ _.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.pdf")


@pytest.mark.parametrize(
    "filename",
    [
        'evil".html',
        "a\\b",
        "x;y=z",
        "a\r\nSet-Cookie: x=1",
        "a\nb",
        "a\x00b\x7f",
        "\u2028line\u2029",
        "\ud800lone-surrogate",
    ],
)
def test_hostile_filenames(filename):
    value = content_disposition(filename, "attachment")
    assert value.isascii()
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    fallback = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', value)
    assert fallback is not None
    assert not set(fallback[1]) & set('"\\;')


def test_disposition_validated():
    with pytest.raises(ValueError):
        content_disposition("a", "form-data")


@given(st.text())
def test_never_injects(filename):
    for disposition in ("attachment", "inline"):
        value = content_disposition(filename, disposition)
        assert value.isascii()
        assert "\r" not in value and "\n" not in value
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1))
def test_extended_filename_round_trips(filename):
    value = content_disposition(filename, "attachment")
    encoded = value.rsplit("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, encoding="utf-8") == filename


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("image/png", "image/png"),
        ("IMAGE/PNG", "image/png"),
        (" text/plain ", "text/plain"),
        ("text/plain; charset=UTF-8", "text/plain; charset=utf-8"),
        ('text/plain; charset="utf-8"', "text/plain; charset=utf-8"),
        ("text/plain; format=flowed; charset=iso-8859-1", "text/plain; charset=iso-8859-1"),
        ("text/plain; format=flowed", "text/plain"),
        ("text/plain; charset=<bad>", "text/plain"),
        ("application/vnd.ms-excel", "application/vnd.ms-excel"),
        ("image/svg+xml", "image/svg+xml"),
        (None, "application/octet-stream"),
        ("", "application/octet-stream"),
        ("text", "application/octet-stream"),
        ("text/", "application/octet-stream"),
        ("/plain", "application/octet-stream"),
        ("text/plain/x", "application/octet-stream"),
        ("text /plain", "application/octet-stream"),
        ("text/pl ain", "application/octet-stream"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
        ("tëxt/plain", "application/octet-stream"),
        ("text/(plain)", "application/octet-stream"),
    ],
)
def test_safe_content_type(value, expected):
    assert safe_content_type(value) == expected


@given(st.text())
def test_safe_content_type_is_always_clean(value):
    result = safe_content_type(value)
    token = r"[!#$%&'*+\-.^_`|~0-9a-z]+"
    assert re.fullmatch(rf"{token}/{token}(; charset=\S+)?", result)
    assert result.isascii()


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/pdf",
        "application/json",
    ],
)
def test_inline(content_type):
    assert disposition_for(content_type) == "inline"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "TEXT/HTML",
        "text/html; charset=utf-8",
        "image/svg+xml",
        "application/xhtml+xml",
        "application/javascript",
        "text/javascript",
        "application/ecmascript",
        "text/xml",
        "application/xml",
        "text/css",
        "application/octet-stream",
        "application/x-shockwave-flash",
        "multipart/x-mixed-replace",
        "image/x-icon",
        "",
    ],
)
def test_attachment(content_type):
    assert disposition_for(content_type) == "attachment"
