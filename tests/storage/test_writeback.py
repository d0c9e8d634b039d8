"""Early write-out of freshly written file ranges (storage/writeback.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tusportal.storage import writeback

MiB = 1024 * 1024


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(writeback, "available", True)
    monkeypatch.setattr(writeback, "_start", lambda fd, offset, length: None)
    monkeypatch.setattr(
        writeback.background, "submit", lambda fd, offset, length: calls.append((offset, length)) or True
    )
    return calls


def test_each_completed_window_is_asked_for_once(asked: list[tuple[int, int]]) -> None:
    # 20 one-MiB writes, as consecutive 1 MiB PATCHes (each its own writer) would do
    for pos in range(0, 20 * MiB, MiB):
        writeback.after_write(3, pos, pos + MiB)
    assert asked == [(0, 8 * MiB), (8 * MiB, 8 * MiB)]


def test_a_write_across_several_windows_asks_for_all_of_them(asked: list[tuple[int, int]]) -> None:
    writeback.after_write(3, 3 * MiB, 27 * MiB)
    assert asked == [(0, 24 * MiB)]  # from the start of the first window it touched


def test_writes_inside_a_window_ask_for_nothing(asked: list[tuple[int, int]]) -> None:
    writeback.after_write(3, 0, MiB)
    writeback.after_write(3, 8 * MiB + 1, 9 * MiB)
    assert asked == []


def test_odd_batch_sizes_cover_every_byte_below_the_last_boundary(asked: list[tuple[int, int]]) -> None:
    pos = 0
    for size in [300_001, 2 * MiB + 7, 5 * MiB, 65_536, 11 * MiB + 3, 1, 4 * MiB]:
        writeback.after_write(3, pos, pos + size)
        pos += size
    covered = 0
    for offset, length in asked:
        assert offset <= covered  # no gap before this range
        covered = max(covered, offset + length)
    assert covered == pos - pos % writeback.STEP


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux-only")
def test_the_real_call_runs_in_the_background_on_its_own_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert writeback.available
    seen: list[tuple[int, int]] = []
    real = writeback._start
    assert real is not None

    def spy(fd: int, offset: int, length: int) -> None:
        os.fstat(fd)  # still open, although the writer closed its own descriptor first
        seen.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(writeback, "_start", spy)
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    os.pwrite(fd, os.urandom(9 * MiB), 0)
    writeback.after_write(fd, 0, 9 * MiB)
    os.close(fd)
    writeback.background.drain()
    assert seen == [(0, 8 * MiB)]
    assert path.stat().st_size == 9 * MiB


def test_requests_beyond_the_queue_bound_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback.background, "_queued", writeback.MAX_QUEUED)
    assert writeback.background.submit(0, 0, MiB) is False
