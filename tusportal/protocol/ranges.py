"""Range for GET downloads: one byte range or none (RFC 9110 section 14)."""

from __future__ import annotations

import re

from tusportal.errors import RangeNotSatisfiable

_RANGE = re.compile(r"bytes=(?P<start>[0-9]*)-(?P<end>[0-9]*)", re.ASCII | re.IGNORECASE)
_MAX_DIGITS = 19


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) clipped to the body, or None to serve the whole body.

    Absent, malformed and multi-range headers give None, which RFC 9110 allows a server to do.
    A well-formed range that selects no byte raises `RangeNotSatisfiable` with Content-Range set.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip(" \t"))
    if match is None:
        return None
    first, last = match["start"], match["end"]
    if not first and not last:
        return None
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    end = int(last) if last else size - 1
    return start, min(end, size - 1)
