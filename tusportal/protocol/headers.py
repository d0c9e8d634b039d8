"""The tus core headers: Tus-Resumable, Upload-Offset, Upload-Length, Upload-Defer-Length,
Content-Length, and the HTTP date used by Upload-Expires.

Every parser takes the raw header value (or None when the header is absent) and either returns a
clean Python value or raises the matching `TusError`. Surrounding spaces and tabs are ignored;
anything else that is not plain ASCII digits is rejected, so "+5", "1e3", "1 000" and "٣" all fail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tusportal.errors import (
    InvalidContentLength,
    InvalidDeferLength,
    InvalidHeader,
    InvalidLength,
    InvalidOffset,
    MissingOffset,
    UnsupportedVersion,
)

TUS_VERSION = "1.0.0"
SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0.0",)

MAX_INT64 = 2**63 - 1
_OWS = " \t"
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def check_tus_resumable(value: str | None) -> None:
    """Raise `UnsupportedVersion` (carrying the Tus-Version header) unless the version is served."""
    if value is None or value.strip(_OWS) not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(headers={"Tus-Version": ",".join(SUPPORTED_VERSIONS)})


def _non_negative_int(value: str, error: type[InvalidHeader]) -> int:
    text = value.strip(_OWS)
    if not _DIGITS.fullmatch(text):
        raise error()
    # Leading zeros are legal but must not let a huge string reach int().
    significant = text.lstrip("0")
    if len(significant) > len(str(MAX_INT64)):
        raise error()
    number = int(text)
    if number > MAX_INT64:
        raise error()
    return number


def parse_offset(value: str | None) -> int:
    if value is None:
        raise MissingOffset()
    return _non_negative_int(value, InvalidOffset)


def parse_length(value: str) -> int:
    return _non_negative_int(value, InvalidLength)


def parse_defer_length(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip(_OWS) != "1":
        raise InvalidDeferLength()
    return True


def parse_content_length(value: str | None) -> int | None:
    if value is None:
        return None
    return _non_negative_int(value, InvalidContentLength)


# --- HTTP dates (RFC 9110 IMF-fixdate), locale-independent ----------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_IMF_FIXDATE = re.compile(
    r"(?P<day>[A-Z][a-z]{2}), (?P<d>[0-9]{2}) (?P<mon>[A-Z][a-z]{2}) (?P<y>[0-9]{4}) "
    r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2}) GMT",
    re.ASCII,
)


def format_http_date(dt: datetime) -> str:
    """Format an aware datetime as e.g. "Wed, 25 Jun 2014 16:00:00 GMT" (always in UTC)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_http_date needs a timezone-aware datetime")
    utc = dt.astimezone(UTC)
    return (
        f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def parse_http_date(s: str) -> datetime:
    """Parse an IMF-fixdate into an aware UTC datetime; raise ValueError on anything else."""
    match = _IMF_FIXDATE.fullmatch(s.strip(_OWS))
    if match is None or match["mon"] not in _MONTHS:
        raise ValueError(f"not an IMF-fixdate: {s!r}")
    parsed = datetime(
        int(match["y"]),
        _MONTHS.index(match["mon"]) + 1,
        int(match["d"]),
        int(match["h"]),
        int(match["m"]),
        int(match["s"]),
        tzinfo=UTC,
    )
    if _DAYS[parsed.weekday()] != match["day"]:
        raise ValueError(f"weekday does not match the date: {s!r}")
    return parsed
