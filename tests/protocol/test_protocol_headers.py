from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal.errors import (
    InvalidContentLength,
    InvalidDeferLength,
    InvalidLength,
    InvalidOffset,
    MissingOffset,
    UnsupportedVersion,
)
from tusportal.protocol import (
    SUPPORTED_VERSIONS,
    TUS_VERSION,
    check_tus_resumable,
    format_http_date,
    parse_content_length,
    parse_defer_length,
    parse_http_date,
    parse_length,
    parse_offset,
)

MAX = 2**63 - 1
BAD_NUMBERS = [
    "",
    " ",
    "-1",
    "+1",
    "1e3",
    "1.0",
    "1 000",
    "0x10",
    "abc",
    "١٢",  # Arabic-Indic digits
    "²",
    "5\n",
    "\n5",
    "5\r\n",
    str(MAX + 1),
    "9" * 30,
    "1" * 5000,
    "1_000",
]


def test_version_constants():
    assert TUS_VERSION == "1.0.0"
    assert SUPPORTED_VERSIONS == ("1.0.0",)


@pytest.mark.parametrize("value", ["1.0.0", " 1.0.0 ", "\t1.0.0"])
def test_tus_resumable_accepted(value):
    check_tus_resumable(value)


@pytest.mark.parametrize("value", [None, "", "1.0", "0.2.2", "1.0.0,0.2.2", "v1.0.0", "2.0.0"])
def test_tus_resumable_rejected(value):
    with pytest.raises(UnsupportedVersion) as info:
        check_tus_resumable(value)
    assert info.value.status == 412
    assert info.value.headers["Tus-Version"] == "1.0.0"


@given(st.integers(min_value=0, max_value=MAX))
def test_offset_round_trip(n):
    assert parse_offset(str(n)) == n
    assert parse_length(str(n)) == n
    assert parse_content_length(str(n)) == n


@pytest.mark.parametrize(("value", "expected"), [("0", 0), (" 70 ", 70), ("007", 7), (str(MAX), MAX)])
def test_offset_accepted(value, expected):
    assert parse_offset(value) == expected


def test_offset_leading_zeros_within_bound():
    assert parse_offset("0" * 50 + "1") == 1


def test_missing_offset():
    with pytest.raises(MissingOffset):
        parse_offset(None)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_offset_rejected(value):
    with pytest.raises(InvalidOffset):
        parse_offset(value)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_length_rejected(value):
    with pytest.raises(InvalidLength):
        parse_length(value)


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_content_length_rejected(value):
    with pytest.raises(InvalidContentLength):
        parse_content_length(value)


def test_content_length_absent():
    assert parse_content_length(None) is None


def test_defer_length():
    assert parse_defer_length(None) is False
    assert parse_defer_length("1") is True
    assert parse_defer_length(" 1 ") is True


@pytest.mark.parametrize("value", ["", "0", "2", "true", "01", "1.0", "yes", "1,1"])
def test_defer_length_rejected(value):
    with pytest.raises(InvalidDeferLength):
        parse_defer_length(value)


def test_format_http_date_spec_example():
    dt = datetime(2014, 6, 25, 16, 0, 0, tzinfo=UTC)
    assert format_http_date(dt) == "Wed, 25 Jun 2014 16:00:00 GMT"


def test_format_http_date_converts_to_utc():
    dt = datetime(2014, 6, 25, 18, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_http_date(dt) == "Wed, 25 Jun 2014 16:00:00 GMT"


def test_format_http_date_rejects_naive():
    with pytest.raises(ValueError):
        format_http_date(datetime(2014, 6, 25))


@given(st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)))
def test_http_date_round_trip(dt):
    assert parse_http_date(format_http_date(dt)) == dt.replace(microsecond=0)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Wed, 25 Jun 2014 16:00:00 UTC",
        "Thu, 25 Jun 2014 16:00:00 GMT",  # wrong weekday
        "Wed, 25 Foo 2014 16:00:00 GMT",
        "Wed, 31 Jun 2014 16:00:00 GMT",
        "Wednesday, 25-Jun-14 16:00:00 GMT",
        "2014-06-25T16:00:00Z",
    ],
)
def test_parse_http_date_rejects(value):
    with pytest.raises(ValueError):
        parse_http_date(value)
