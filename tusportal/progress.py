"""Progress of long commands (`migrate`, `cleanup`, `webhook replay`) for the person watching.

Human-readable lines on stderr, so that stdout keeps only the command's result (a summary, JSON);
`--quiet` turns them off. Log lines (structlog, also on stderr) are separate: they are for machines
and stay governed by `TUSPORTAL_LOG_LEVEL`.

Code that does long work takes a `Report` (a callable taking one line) and calls it as it goes;
`Tally` counts things and bytes and reports at most once a second, plus once when a job is done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Report = Callable[[str], None]
QUIET_HELP = "no progress lines on stderr (the result on stdout is unchanged)"


def silent(line: str) -> None:
    """A Report that says nothing (the default for callers that run unattended)."""


def to_stderr(quiet: bool = False, stream: TextIO | None = None) -> Report:
    if quiet:
        return silent
    out = stream or sys.stderr

    def report(line: str) -> None:
        print(line, file=out, flush=True)

    return report


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Tally:
    """Counts one job's items (and their bytes), reporting `<job>: <n> <what>, <bytes> so far` at
    most every `interval` seconds and `<job>: done, ...` at the end."""

    def __init__(
        self, report: Report, job: str, what: str, *, with_bytes: bool = True, interval: float = 1.0
    ):
        self.report = report
        self.job = job
        self.what = what
        self.with_bytes = with_bytes
        self.interval = interval
        self.count = 0
        self.bytes = 0
        self._last = time.monotonic()

    def add(self, count: int = 1, nbytes: int = 0) -> None:
        self.count += count
        self.bytes += nbytes
        if time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self.report(f"{self.job}: {self._totals()} so far")

    def done(self) -> None:
        self.report(f"{self.job}: done, {self._totals()}")

    def _totals(self) -> str:
        text = f"{self.count} {self.what}"
        return f"{text}, {human_bytes(self.bytes)}" if self.with_bytes else text
