"""How the UI writes sizes, dates and durations; where a form may send the browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tusportal.web.ui import display
from tusportal.web.ui.forms import local_path


def test_sizes() -> None:
    assert display.size(None) == "unknown"
    assert display.size(0) == "0 B"
    assert display.size(1023) == "1023 B"
    assert display.size(1024) == "1.0 KiB"
    assert display.size(1536) == "1.5 KiB"
    assert display.size(200 * 1024) == "200 KiB"
    assert display.size(6 * 1024 * 1024) == "6.0 MiB"
    assert display.size(5 * 1024**4) == "5.0 TiB"
    assert display.size(3 * 1024**6) == "3072 PiB"


def test_dates_are_shown_in_utc() -> None:
    t = datetime(2025, 3, 1, 15, 5, 59, tzinfo=timezone(timedelta(hours=1)))
    assert display.when(t) == "2025-03-01 14:05 UTC"
    assert display.when(t.isoformat()) == "2025-03-01 14:05 UTC"
    assert display.when(None) == ""
    assert display.iso(t) == datetime(2025, 3, 1, 14, 5, 59, tzinfo=UTC).isoformat()


def test_durations_and_percent() -> None:
    assert display.duration(42) == "42 s"
    assert display.duration(150) == "2 min"
    assert display.duration(7200) == "2 h"
    assert display.duration(5 * 86400) == "5 d"
    assert display.percent(5, 10) == 50
    assert display.percent(0, 0) == 100
    assert display.percent(3, None) is None
    assert display.percent(11, 10) == 100


def test_redirects_stay_on_this_site() -> None:
    assert local_path("/files?q=a", "/x") == "/files?q=a"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil", "", "files"):
        assert local_path(bad, "/files") == "/files"
