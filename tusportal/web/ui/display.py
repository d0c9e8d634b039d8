"""How the UI writes sizes, dates and durations: pure functions, used as Jinja2 filters."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: int | None) -> str:
    """1536 -> '1.5 KiB'; None (a deferred length) -> 'unknown'."""
    if n is None:
        return "unknown"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def _moment(t: datetime | str | None) -> datetime | None:
    return datetime.fromisoformat(t) if isinstance(t, str) else t


def when(t: datetime | str | None) -> str:
    """A timestamp (or its ISO text) in UTC, to the minute: '2025-03-01 14:05 UTC'; '' for None."""
    moment = _moment(t)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else ""


def iso(t: datetime | str | None) -> str:
    moment = _moment(t)
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def duration(seconds: float) -> str:
    """42 -> '42 s', 150 -> '2 min', 7200 -> '2 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def percent(received: int, total: int | None) -> int | None:
    """Whole percent of `received` in `total`; None when the total is unknown."""
    if total is None:
        return None
    if total == 0:
        return 100
    return min(100, int(100 * received / total))
