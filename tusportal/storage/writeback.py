"""Start the disk write of freshly written file ranges early (Linux `sync_file_range`).

A completed upload is fsync'd before its completion is committed. Without help, the kernel starts
writing a file's dirty pages only when they are old or memory is short, so the whole file reaches the
disk at that fsync: a 1 GiB upload waited for 1 GiB of disk writes after its last byte arrived.
Asking for write-out of each range soon after it is written lets the disk work while the rest of the
body streams in; the closing fsync then waits only for the tail. It also keeps dirty memory small.

`start(fd, offset, length)` never waits for the data to reach the disk (SYNC_FILE_RANGE_WRITE
alone), but it blocks while the device's queue is full, which on a busy disk is milliseconds.
`after_write` therefore hands the request to one background thread, on a duplicate of the file
descriptor, so that neither the request that wrote the bytes nor the I/O pool waits for it. Where
the call does not exist (not Linux) nothing is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

SYNC_FILE_RANGE_WRITE = 2
# write-out starts once this many bytes of a file are waiting: large enough for big disk requests
STEP = 8 * 1024 * 1024
# requests waiting for the background thread; past this (a disk far slower than the network) new
# ones are dropped: the fsync at completion writes those bytes anyway
MAX_QUEUED = 64


def _load() -> Callable[[int, int, int], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        # ctypes releases the GIL for the call; a failure only means no early write-out (the fsync
        # at completion still makes the bytes durable), so it is not an error for the upload
        fn(fd, offset, length, SYNC_FILE_RANGE_WRITE)

    return start


_start = _load()
available = _start is not None


def start(fd: int, offset: int, length: int) -> None:
    if _start is not None and length > 0:
        _start(fd, offset, length)


class _Background:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._queued = 0

    def submit(self, fd: int, offset: int, length: int) -> bool:
        with self._lock:
            if self._queued >= MAX_QUEUED:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="tusportal-writeback")
            self._queued += 1
        try:
            dup = os.dup(fd)  # the writer may close its descriptor before this runs
        except OSError:
            with self._lock:
                self._queued -= 1
            return False
        self._executor.submit(self._run, dup, offset, length)
        return True

    def _run(self, fd: int, offset: int, length: int) -> None:
        try:
            with contextlib.suppress(OSError):
                start(fd, offset, length)
        finally:
            os.close(fd)
            with self._lock:
                self._queued -= 1

    def drain(self) -> None:
        """Wait for every queued request (tests)."""
        with self._lock:
            executor = self._executor
        if executor is not None:
            executor.submit(lambda: None).result()


background = _Background()


def after_write(fd: int, start_pos: int, end: int, step: int = STEP) -> None:
    """Bytes [start_pos, end) were just written: when they complete a `step`-aligned window of the
    file, ask for the write-out of that window (bytes of earlier writers in it included). Aligned
    windows need no memory of earlier calls, so consecutive PATCHes of one upload are covered alike."""
    if _start is None:
        return
    boundary = end - end % step
    if boundary > start_pos and boundary >= step:
        begin = max(0, min(start_pos - start_pos % step, boundary - step))
        background.submit(fd, begin, boundary - begin)
