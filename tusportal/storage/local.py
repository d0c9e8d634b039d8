"""Local-disk store: one file per upload under a directory.

Bodies are written without blocking the event loop: chunks are gathered into batches of at least
`batch_bytes` and written by a worker thread with one write in flight while the next batch is
received; a small remainder is written inline, which is faster for small bodies than a thread hop.
Memory per writer is bounded by about two batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tusportal.errors import StorageUnavailable
from tusportal.storage import writeback
from tusportal.storage.base import Hasher, StoreState
from tusportal.storage.hashlane import HashLane, hash_all

_FIRST_BATCH = 256 * 1024
_HASH_APART = 256 * 1024  # from this batch size on, a writer's bytes are hashed on its hash lane
_GROW_AFTER = 4 * 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")
_IOV_MAX = 512
# a body this long gets early disk write-out (writeback.py): its completion then waits only for the
# tail. Shorter bodies (a PATCH of a few MiB) do without: the disk writing the file while its next
# PATCH appends slowed those PATCHes (p99 of 1 MiB PATCHes 11 -> 23 ms on ext4 here)
_WRITE_OUT_AFTER = 64 * 1024 * 1024


class InsufficientStorage(StorageUnavailable):
    status = 507
    code = "insufficient_storage"
    message = "the server has no space left for this upload"


def _translate(exc: OSError) -> StorageUnavailable:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage()
    return StorageUnavailable(f"storage error: {exc.strerror or exc}")


def _pwrite_all(fd: int, bufs: list[bytes], pos: int, hashers: list[Hasher]) -> int:
    hash_all(hashers, bufs)
    total = sum(len(b) for b in bufs)
    if len(bufs) > _IOV_MAX:
        bufs = [b"".join(bufs)]
    done = os.pwritev(fd, bufs, pos) if len(bufs) > 1 else os.pwrite(fd, bufs[0], pos)
    if done < total:
        rest = memoryview(b"".join(bufs))[done:]
        while rest:
            n = os.pwrite(fd, rest, pos + done)
            done += n
            rest = rest[n:]
    return total


def _copy_range(src: int, dst: int, count: int, offset: int, dst_offset: int) -> int:
    """Copy up to `count` bytes from `src` at `offset` to `dst` at `dst_offset`, in the kernel."""
    try:
        return os.copy_file_range(src, dst, min(count, 1 << 30), offset, dst_offset)
    except OSError as exc:
        import errno

        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    # a file system without copy_file_range: sendfile also copies without user-space buffers
    os.lseek(dst, dst_offset, os.SEEK_SET)
    return os.sendfile(dst, src, offset, min(count, 1 << 30))


class LocalWriter:
    """Appends to one file. File-system metadata calls (open with O_CREAT, fsync) never run on the
    event loop: creating a file can wait on the directory's lock while another upload fsyncs it."""

    def __init__(
        self,
        path: Path,
        offset: int,
        hashers: list[Hasher],
        executor: ThreadPoolExecutor,
        batch_bytes: int,
        on_synced: Callable[[int], None] | None = None,
        hash_executor: ThreadPoolExecutor | None = None,
    ):
        self._path = path
        self._fd: int | None = None
        self._start = offset
        self._done = offset  # position up to which writes completed
        self._next = offset  # position of the next queued byte
        self._buf: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[int] | None = None
        self._hashers = hashers
        self._executor = executor
        self._batch = batch_bytes
        # bytes of big batches are hashed on a lane of their own (hashlane.py), at most two
        # batches behind the writes; small ones in the write job, which is cheaper than a hop
        self._lane = HashLane(hashers, hash_executor, 2 * batch_bytes) if hashers and hash_executor else None
        self._laned = False
        # start with small batches, so that the end of a short body (a 1 MiB PATCH) leaves little
        # to write and hash after its last byte arrives; grow to full batches for long bodies
        self._batch_now = min(batch_bytes, _FIRST_BATCH)
        self._on_synced = on_synced
        self._busy = False
        self._closed = False
        self._writing_out = False

    @property
    def state(self) -> StoreState | None:
        return None

    @property
    def written(self) -> int:
        return self._done - self._start

    def _fd_in_thread(self) -> int:
        # runs on the I/O thread; jobs of one writer never overlap, so no race on _fd
        if self._fd is None:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
        return self._fd

    def _job(self, bufs: list[bytes], pos: int, fsync: bool, hashers: list[Hasher]) -> int:
        fd = self._fd_in_thread()
        written = _pwrite_all(fd, bufs, pos, hashers) if bufs else 0
        if fsync:
            os.fsync(fd)
        elif pos + written - self._start >= _WRITE_OUT_AFTER:
            # the disk works while the rest streams in; the first time, from this body's start
            writeback.after_write(fd, pos if self._writing_out else self._start, pos + written)
            self._writing_out = True
        return written

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered >= self._batch_now:
            self._busy = True  # keep kick() out while the body loop hands over a batch
            try:
                await self._submit()
            finally:
                self._busy = False

    async def _wait_pending(self) -> None:
        # shielded: a cancelled caller (a lock release request) must not lose track of a write
        # that the thread is still doing; the next flush waits for it again. The count of written
        # bytes is advanced by the future's callback, so it is current even while nobody awaits.
        pending = self._pending
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except OSError as exc:
                if self._pending is pending:
                    self._pending = None
                raise _translate(exc) from exc
            if self._pending is pending:
                self._pending = None

    def _on_written(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._done += future.result()

    def _start_write(self, fsync: bool = False) -> None:
        # no job is in flight here, so bytes hashed in earlier jobs were all hashed before any
        # byte goes to the lane: the running hashes see the body in order
        bufs, size = self._buf, self._buffered
        self._buf, self._buffered = [], 0
        hashers = self._hashers
        if self._lane is not None and (self._laned or size >= _HASH_APART):
            self._laned = True
            self._lane.feed(bufs, size)
            hashers = []
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._job, bufs, self._next, fsync, hashers)
        future.add_done_callback(self._on_written)
        self._pending = future
        self._next += size
        if self._next - self._start >= _GROW_AFTER:
            self._batch_now = self._batch

    async def _submit(self, fsync: bool = False) -> None:
        await self._wait_pending()
        if self._laned:
            assert self._lane is not None
            await self._lane.room()
        self._start_write(fsync)

    def kick(self) -> None:
        """Start writing what is buffered, without waiting: a stalled client's bytes reach the disk
        (and the next checkpoint) instead of sitting in memory. Does nothing while a write runs or
        while the body loop itself is handing over a batch or flushing (jobs of one writer must run
        one at a time, in order: they feed the running hashes)."""
        if self._busy or self._closed:
            return
        if self._buffered and (self._pending is None or self._pending.done()):
            if self._pending is not None and self._pending.exception() is not None:
                return  # the body loop raises it
            self._pending = None
            self._start_write()

    async def flush(self, *, fsync: bool = False) -> int:
        self._busy = True
        try:
            return await self._flush(fsync)
        finally:
            self._busy = False

    async def _flush(self, fsync: bool) -> int:
        small = self._buffered <= self._batch // 4
        if self._buffered and not fsync and small and self._fd is not None and self._pending is None:
            # a small remainder to an open file: write it here, a thread hop costs more
            bufs, size = self._buf, self._buffered
            self._buf, self._buffered = [], 0
            try:
                _pwrite_all(self._fd, bufs, self._next, [] if self._laned else self._hashers)
            except OSError as exc:
                raise _translate(exc) from exc
            if self._laned:
                assert self._lane is not None
                self._lane.feed(bufs, size)
            self._next += size
            self._done += size
        elif self._buffered or fsync:
            await self._submit(fsync)  # the remainder and the fsync in one thread job
        await self._wait_pending()
        if self._laned:
            assert self._lane is not None
            await self._lane.drained()
        if fsync and self._on_synced is not None:
            self._on_synced(self._done)
        return self.written

    async def close(self) -> None:
        self._closed = True
        try:
            await self.flush()
        finally:
            if self._pending is not None:
                # an earlier error left a write in flight: let it finish before closing the fd
                pending, self._pending = self._pending, None
                with contextlib.suppress(OSError):
                    await pending
            if self._lane is not None and self._laned:
                # the hashers must not be in use on a thread once the writer is closed
                with contextlib.suppress(Exception):
                    await self._lane.drained()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class LocalStore:
    """Implements Store, Terminator, RangeReader and LocalFiles."""

    def __init__(self, directory: Path, *, batch_bytes: int = 1 << 20, io_threads: int = 32):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(io_threads, thread_name_prefix="tusportal-io")
        self._hashing = ThreadPoolExecutor(io_threads, thread_name_prefix="tusportal-hash")
        self._batch = batch_bytes
        self._dir_lock = asyncio.Lock()
        self._dir_requested = 0
        self._dir_synced = 0
        # key -> size at which its latest writer fsync'd the file (so completion can skip a re-sync)
        self._synced: dict[str, int] = {}

    def path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"invalid storage key {key!r}")
        return self.directory / key

    async def create(self, key: str) -> StoreState | None:
        path = self.path(key)

        def touch() -> None:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640))

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, touch)
        except OSError as exc:
            raise _translate(exc) from exc
        return None

    async def size(self, key: str, state: StoreState | None = None) -> int:
        try:
            return os.stat(self.path(key)).st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _translate(exc) from exc

    async def truncate(self, key: str, size: int, state: StoreState | None = None) -> StoreState | None:
        try:
            os.truncate(self.path(key), size)
        except FileNotFoundError:
            if size:
                raise
        except OSError as exc:
            raise _translate(exc) from exc
        return None

    def writer(
        self, key: str, offset: int, hashers: list[Hasher] | None = None, state: StoreState | None = None
    ) -> LocalWriter:
        self._synced.pop(key, None)

        def synced(size: int) -> None:
            self._synced[key] = size

        return LocalWriter(
            self.path(key), offset, hashers or [], self._executor, self._batch, synced, self._hashing
        )

    async def make_durable(
        self, key: str, state: StoreState | None = None, *, new: bool = False
    ) -> StoreState | None:
        path = self.path(key)

        def sync_file() -> None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        loop = asyncio.get_running_loop()
        try:
            synced_at = self._synced.pop(key, None)
            # skip the file fsync when its writer just did it with its last bytes
            if synced_at is None or synced_at != os.stat(path).st_size:
                await loop.run_in_executor(self._executor, sync_file)
            await self._sync_directory()
        except OSError as exc:
            raise _translate(exc) from exc
        return None

    async def _sync_directory(self) -> None:
        # group commit: callers that arrive while a directory fsync runs share the next one
        self._dir_requested += 1
        wanted = self._dir_requested
        async with self._dir_lock:
            if self._dir_synced >= wanted:
                return
            target = self._dir_requested

            def sync_dir() -> None:
                fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

            await asyncio.get_running_loop().run_in_executor(self._executor, sync_dir)
            self._dir_synced = target

    async def delete(self, key: str, state: StoreState | None = None) -> None:
        path = self.path(key)

        def unlink() -> None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, unlink)
        except OSError as exc:
            raise _translate(exc) from exc

    async def read(
        self, key: str, start: int, end: int, state: StoreState | None = None
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise _translate(exc) from exc
        try:
            pos = start
            while pos <= end:
                n = min(self._batch, end - pos + 1)
                chunk = await loop.run_in_executor(self._executor, os.pread, fd, n, pos)
                if not chunk:
                    break
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def concatenate(
        self, key: str, parts: list[tuple[str, StoreState | None]], pause: float = 0.0
    ) -> StoreState | None:
        """Assemble into `<key>.assembling`, fsync, then rename onto `key`: a crash at any point
        leaves either no `key` or the previous attempt's leftovers, which the next attempt replaces.
        Bytes are copied in the kernel (copy_file_range), never through Python."""
        final = self.path(key)
        temp = final.with_name(final.name + ".assembling")
        sources = [self.path(part) for part, _ in parts]
        loop = asyncio.get_running_loop()

        def copy_part(dst: int, src_path: Path, dst_offset: int) -> int:
            with open(src_path, "rb") as src:
                remaining = os.fstat(src.fileno()).st_size
                offset = 0
                while remaining:
                    n = _copy_range(src.fileno(), dst, remaining, offset, dst_offset + offset)
                    if n == 0:
                        raise OSError(f"short copy from {src_path.name}")
                    offset += n
                    remaining -= n
            return dst_offset + offset

        try:
            dst = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            try:
                position = 0
                for src_path in sources:
                    position = await loop.run_in_executor(self._executor, copy_part, dst, src_path, position)
                    if pause:
                        await asyncio.sleep(pause)
                await loop.run_in_executor(self._executor, os.fsync, dst)
            finally:
                os.close(dst)
            os.replace(temp, final)
            await self._sync_directory()
        except OSError as exc:
            raise _translate(exc) from exc
        return None

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._hashing.shutdown(wait=True)
