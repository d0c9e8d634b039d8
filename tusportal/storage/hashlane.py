"""A writer's running hashes, fed on a thread of their own, apart from its writes.

sha256 is the slowest step of a big body (about 1.2 GB/s on one core here, and a stream's hash
cannot be split across cores). Hashed inside each write job, it ran only while a batch was being
written, and the thread hops of every job came on top: a 1 GiB body spent 1.3 s in write jobs for
0.9 s of hashing. A lane hashes its batches one after the other on one thread for as long as any
are waiting, so the hash runs all the time and the writes, the next bytes from the socket and the
hash overlap.

Order: batches are hashed in the order they are fed (one drainer per lane at a time). Memory: the
caller waits (`room`) while more than `limit` bytes wait for the hash.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from concurrent.futures import Executor

from tusportal.storage.base import Hasher


def hash_all(hashers: list[Hasher], bufs: list[bytes]) -> None:
    for hasher in hashers:
        for buf in bufs:
            hasher.update(buf)


class HashLane:
    def __init__(self, hashers: list[Hasher], executor: Executor, limit: int):
        self._hashers = hashers
        self._executor = executor
        self._limit = limit
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[list[bytes], int]] = collections.deque()
        self._waiting = 0  # bytes fed and not hashed yet (guarded by _lock)
        self._draining = False  # a drainer is submitted or running (guarded by _lock)
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakers: list[tuple[int, asyncio.Future[None]]] = []  # loop side only

    @property
    def waiting(self) -> int:
        return self._waiting

    def feed(self, bufs: list[bytes], size: int) -> None:
        """Queue a batch for hashing after every batch fed before it; never blocks."""
        if not size:
            return  # a flush with nothing buffered: no thread hop for it
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        with self._lock:
            self._queue.append((bufs, size))
            self._waiting += size
            start = not self._draining
            self._draining = True
        if start:
            self._executor.submit(self._drain)

    def _drain(self) -> None:
        # on a thread: hash batches until none is waiting
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    break
                bufs, size = self._queue.popleft()
            try:
                if self._error is None:
                    hash_all(self._hashers, bufs)
            except BaseException as exc:  # raised to the writer by `room` and `drained`
                self._error = exc
            with self._lock:
                self._waiting -= size
            self._notify()
        self._notify()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and self._wakers:
            # a closed loop: nobody is waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        keep = []
        for bound, future in self._wakers:
            if future.done():
                continue
            if self._below(bound):
                future.set_result(None)
            else:
                keep.append((bound, future))
        self._wakers = keep

    def _below(self, bound: int) -> bool:
        with self._lock:
            return self._waiting <= bound and (bound > 0 or not self._draining)

    async def _wait(self, bound: int) -> None:
        while not self._below(bound):
            future = asyncio.get_running_loop().create_future()
            self._wakers.append((bound, future))
            if self._below(bound):  # the drainer moved on while the waker was registered
                future.cancel()
                break
            await future
        if self._error is not None:
            raise self._error

    async def room(self) -> None:
        """Wait until at most `limit` bytes wait for the hash."""
        await self._wait(self._limit)

    async def drained(self) -> None:
        """Wait until the hashers have seen every byte fed."""
        await self._wait(0)
