"""S3Writer: appends a PATCH body to an upload as multipart parts and pending pieces.

Bytes are hashed (the running hashes the service asks for) in order on the store's threads, a
batch at a time, never on the event loop. They are gathered in memory until, with the pending
pieces before them, they fill a part; the part (pieces joined with the new bytes; fetched back
unless this instance still has them cached) is uploaded by a thread while the next bytes arrive,
with at most `parts_in_flight` parts in flight — memory stays below about
(parts_in_flight + 1) * part size. When the body ends, `flush` stores what is left:

- as a new pending piece (one PUT of just the new bytes: a PATCH never rewrites earlier ones);
- when there are already `max_pieces` pieces, merged with them into one piece;
- when the store knows the upload's length and these are its last bytes: as the last part of the
  multipart upload, or, for an upload smaller than a part, as the final object itself.

`written` and `state` only ever describe bytes S3 acknowledged, in order: a part that finished
before an earlier one is counted once the earlier one is done. A writer interrupted at any point
(its task cancelled) leaves them consistent, and the next writer — on any instance — continues
from the persisted state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from tusportal.storage.base import Hasher, StoreState
from tusportal.storage.hashlane import HashLane, hash_all
from tusportal.storage.s3.aio import AsyncS3, joined, upload_joined_part
from tusportal.storage.s3.background import BuiltPart
from tusportal.storage.s3.client import S3Client, StorageInconsistent
from tusportal.storage.s3.layout import Layout, Part, Piece, part_prefix
from tusportal.storage.s3.sizing import part_size

log = structlog.get_logger(__name__)

_HASH_BATCH = 1 << 20  # bytes waiting to be hashed before a thread takes them
_HASH_INLINE = 256 * 1024  # a last batch this small is hashed on the loop: cheaper than a hop


@dataclass(frozen=True)
class WriterConfig:
    part_size: int
    parts_in_flight: int
    max_pieces: int = 32


@dataclass
class _Outcome:
    """What one finished S3 request adds to the layout."""

    parts: list[Part] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)
    retire: list[Piece] = field(default_factory=list)
    direct_size: int | None = None


def _put(
    client: S3Client, name: str, pieces: list[bytes], chunks: list[bytes], content_type: str | None
) -> bytes:
    """PUT the joined bytes as one object; returns them (for the piece cache)."""
    body = joined(pieces, chunks)
    pieces.clear()
    chunks.clear()
    client.put_object(name, body, content_type)
    return body


class S3Writer:
    def __init__(
        self,
        s3: AsyncS3,
        key: str,
        offset: int,
        hashers: list[Hasher],
        layout: Layout,
        config: WriterConfig,
    ):
        # a made object takes no more bytes (an empty body still completes it: see make_durable)
        self._sealed = layout.complete or layout.direct
        if offset != layout.size:
            raise ValueError(f"writer offset {offset} does not match the stored size {layout.size}")
        self._s3 = s3
        self._key = key
        self._start = offset
        self._hashers = hashers
        self._config = config
        self._stale = list(layout.retired)  # committed as retired: safe to delete now
        layout = layout.copy()
        # a part this instance built in the background from committed pieces (background.py)
        s3.background.adopt_into(key, layout)
        self._layout = layout
        self._settled = False  # whether a background part under way was waited for
        self._cleanup: asyncio.Task[None] | None = None
        self._tasks: deque[asyncio.Task[_Outcome]] = deque()
        self._mpu: asyncio.Task[tuple[str, str | None]] | None = None
        self._number = len(layout.parts) + 1  # of the next part to cut
        self._cut_end = layout.parts_end  # bytes given to parts, done or in flight
        self._free = list(layout.pending)  # pieces no part in flight has taken
        if not self._sealed:
            self._start_background()
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._error: BaseException | None = None
        self._closed = False
        self._tail_in_flight = False
        self._size = layout.size  # of the acknowledged bytes, kept here: `written` is hot
        self._unhashed: list[bytes] = []
        self._unhashed_size = 0
        # fed in order on a thread of the store's pool (hashlane.py); not bounded here: the
        # chunks are the ones the parts in flight hold anyway
        self._lane = HashLane(hashers, s3.executor, limit=0) if hashers else None

    # --- what is durable ----------------------------------------------------------------

    @property
    def written(self) -> int:
        self._settle()
        return self._size - self._start

    @property
    def state(self) -> StoreState | None:
        self._settle()
        return self._layout.to_state()

    def _settle(self) -> None:
        """Apply finished requests to the layout, strictly in the order they were started."""
        if self._cleanup is not None and self._cleanup.done():
            if not self._cleanup.cancelled() and self._cleanup.exception() is None:
                gone = {p.name for p in self._stale}
                self._layout.retired = [p for p in self._layout.retired if p.name not in gone]
            self._stale = []
        while self._tasks and self._tasks[0].done():
            task = self._tasks[0]
            error = asyncio.CancelledError() if task.cancelled() else task.exception()
            if error is not None:
                # nothing after a failed request is counted: it would leave a hole
                self._error = self._error or error
                return
            self._tasks.popleft()
            self._apply(task.result())
            self._size = self._layout.size

    def _apply(self, outcome: _Outcome) -> None:
        layout = self._layout
        layout.parts.extend(outcome.parts)
        if outcome.retire:
            gone = {p.name for p in outcome.retire}
            layout.pending = [p for p in layout.pending if p.name not in gone]
            layout.retired.extend(outcome.retire)
        layout.pending.extend(outcome.pieces)
        self._free.extend(outcome.pieces)
        if outcome.direct_size is not None:
            layout.retired.extend(layout.pending)
            layout.pending = []
            layout.direct = True
            layout.object_size = outcome.direct_size

    def _raise_if_failed(self) -> None:
        self._settle()
        if self._error is not None:
            raise self._error

    # --- writing ------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        self._raise_if_failed()
        if self._closed:
            raise RuntimeError("write after close")
        if not data:
            return
        if self._sealed:
            raise StorageInconsistent("the upload's object is already complete")
        self._start_cleanup()
        if self._tail_in_flight:
            await self._drain()  # an interrupted flush: its piece must be counted first
        if self._hashers:
            self._unhashed.append(data)
            self._unhashed_size += len(data)
            if self._unhashed_size >= _HASH_BATCH:
                self._hash_unhashed()
        self._chunks.append(data)
        self._buffered += len(data)
        while self._cut_due():
            # wait for room first: a cancellation here must find the buffer untouched
            await self._settle_background()
            await self._room_for_part()
            if not self._cut_due():
                return
            self._cut_part()

    def _next_part_size(self) -> int:
        return part_size(self._number, self._cut_end, self._config.part_size, self._layout.length)

    def _part_due(self) -> bool:
        return sum(p.size for p in self._free) + self._buffered >= self._next_part_size()

    def _cut_due(self) -> bool:
        """Cut parts while the body streams only when it is a long one (half a part buffered): a
        short body is kept as a piece, and the part is built from pieces in the background."""
        return self._buffered >= self._next_part_size() // 2 and self._part_due()

    def _prefix_due(self) -> bool:
        return part_prefix(self._free, self._next_part_size()) > 0

    def _cut_part(self) -> None:
        """Submit the next part, by the rule of `part_prefix`: the fewest free pieces that hold a
        part, or else every free piece and the bytes after them up to the part's size."""
        size = self._next_part_size()
        count = part_prefix(self._free, size)
        if count:
            pieces, self._free = self._free[:count], self._free[count:]
            chunks: list[bytes] = []
            size = sum(p.size for p in pieces)
        else:
            pieces, self._free = self._free, []
            chunks = self._take(size - sum(p.size for p in pieces))
        self._submit(self._part(self._number, pieces, chunks, size))
        self._number += 1
        self._cut_end += size

    # --- parts built in the background ----------------------------------------------------

    def _start_background(self) -> None:
        """When the committed pieces hold a part and the multipart upload exists, build that part
        in the background (this writer does not wait for it; a later one adopts it)."""
        layout = self._layout
        upload_id = layout.upload_id
        count = part_prefix(layout.pending, self._next_part_size())
        if upload_id is None or not count or self._s3.background.running(self._key):
            return
        pieces = tuple(layout.pending[:count])
        number = len(layout.parts) + 1
        s3, name, crc32 = self._s3, layout.object, layout.checksum == "crc32"

        async def build() -> BuiltPart:
            datas = await s3.fetch(list(pieces))
            part = await s3.run(upload_joined_part, s3.client, name, upload_id, number, datas, [], crc32)
            return BuiltPart(upload_id, part, pieces)

        self._s3.background.start(self._key, build)

    async def _settle_background(self) -> None:
        """Before this writer cuts its first part: wait for a part this instance is building in
        the background for the upload (so no upload of the same part number is left running), and
        adopt it if it still fits."""
        if self._settled:
            return
        self._settled = True
        built = await self._s3.background.settle(self._key)
        untouched = not self._tasks and self._free == self._layout.pending
        if built is not None and untouched and built.fits(self._layout):
            built.apply(self._layout)
            self._number = len(self._layout.parts) + 1
            self._cut_end = self._layout.parts_end
            self._free = list(self._layout.pending)

    async def flush(self, *, fsync: bool = False) -> int:
        """Store everything received, wait for every request; S3 acknowledged writes are durable,
        so `fsync` needs nothing more. Returns once the hashers have seen every byte too."""
        if self._unhashed:
            assert self._lane is not None
            if self._lane.waiting == 0 and self._unhashed_size <= _HASH_INLINE:
                hash_all(self._hashers, self._unhashed)
                self._unhashed, self._unhashed_size = [], 0
            else:
                self._hash_unhashed()
        await self._drain()
        if self._buffered:
            self._start_cleanup()
            layout = self._layout
            total = self._cut_end + sum(p.size for p in self._free) + self._buffered
            last = layout.length is not None and total == layout.length
            multipart = layout.upload_id is not None or bool(layout.parts) or self._number > 1
            if (last and multipart) or (len(self._free) >= self._config.max_pieces and self._prefix_due()):
                # parts by the rule first (never a merge of pieces that already hold a part)
                await self._settle_background()
                while self._prefix_due():
                    await self._room_for_part()
                    self._cut_part()
            pieces, self._free = self._free, []
            free = sum(p.size for p in pieces)
            start = self._cut_end + free
            chunks = self._take(self._buffered)
            if last and multipart:
                self._submit(self._part(self._number, pieces, chunks, total - self._cut_end))
                self._number += 1
                self._cut_end = total
            elif last:
                self._submit(self._direct(pieces, chunks, total))
            elif len(pieces) >= self._config.max_pieces:
                self._submit(self._piece(pieces, chunks, pieces[0].start))
            else:
                self._free = pieces
                self._submit(self._piece([], chunks, start))
            self._tail_in_flight = True
            await self._drain()
            self._tail_in_flight = False
            if not last and self._layout.upload_id is None and self._prefix_due():
                # the pieces hold a part: the next writer builds it in the background, into the
                # multipart upload made here (committed with this state)
                await self._upload_id()
        if self._lane is not None:
            await self._lane.drained()
        return self.written

    async def close(self) -> None:
        if self._closed:
            return
        try:
            if self._error is None:
                await self.flush()
        finally:
            self._closed = True
            await self._wait_all()
            if self._lane is not None:
                # the hashers must not be in use on a thread once the writer is closed
                with contextlib.suppress(Exception):
                    await self._lane.drained()
            if self._cleanup is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait({self._cleanup})
            self._settle()

    # --- hashing ------------------------------------------------------------------------

    def _hash_unhashed(self) -> None:
        """Hash what is waiting on a thread, after the batches before it (the order matters)."""
        assert self._lane is not None
        self._lane.feed(self._unhashed, self._unhashed_size)
        self._unhashed, self._unhashed_size = [], 0

    # --- requests -----------------------------------------------------------------------

    def _submit(self, work: Coroutine[Any, Any, _Outcome]) -> None:
        self._tasks.append(asyncio.ensure_future(work))

    async def _part(self, number: int, pieces: list[Piece], chunks: list[bytes], size: int) -> _Outcome:
        datas = await self._s3.fetch(pieces)
        upload_id = await self._upload_id()
        s3 = self._s3
        name, crc32 = self._layout.object, self._layout.checksum == "crc32"
        part = await s3.run(upload_joined_part, s3.client, name, upload_id, number, datas, chunks, crc32)
        return _Outcome(parts=[part], retire=pieces)

    async def _direct(self, pieces: list[Piece], chunks: list[bytes], total: int) -> _Outcome:
        datas = await self._s3.fetch(pieces)
        layout = self._layout
        await self._s3.run(_put, self._s3.client, layout.object, datas, chunks, layout.content_type)
        return _Outcome(retire=pieces, direct_size=total)

    async def _piece(self, pieces: list[Piece], chunks: list[bytes], start: int) -> _Outcome:
        datas = await self._s3.fetch(pieces)
        s3 = self._s3
        name = s3.piece_name(self._key, start)
        size = sum(len(d) for d in datas) + sum(len(c) for c in chunks)
        if s3.pieces is None:
            body = await s3.run(_put, s3.client, name, datas, chunks, None)
            s3.cache.put(name, body)
        else:
            await s3.store_piece(self._key, name, joined(datas, chunks))
        return _Outcome(pieces=[Piece(name, start, size)], retire=pieces)

    async def _upload_id(self) -> str:
        if self._layout.upload_id is not None:
            return self._layout.upload_id
        if self._mpu is None:
            s3, layout = self._s3, self._layout
            start = s3.client.start_multipart_upload
            self._mpu = asyncio.ensure_future(s3.run(start, layout.object, layout.content_type))
        upload_id, checksum = await asyncio.shield(self._mpu)
        # durable in S3 from now on, whatever happens next
        self._layout.upload_id = upload_id
        self._layout.checksum = checksum
        return upload_id

    def _start_cleanup(self) -> None:
        if self._cleanup is None and self._stale:
            self._cleanup = asyncio.ensure_future(self._s3.delete([p.name for p in self._stale]))

    # --- buffers and waiting ------------------------------------------------------------

    def _take(self, n: int) -> list[bytes]:
        out: list[bytes] = []
        self._buffered -= n
        while n > 0:
            chunk = self._chunks[0]
            if len(chunk) <= n:
                out.append(self._chunks.popleft())  # type: ignore[arg-type]
                n -= len(chunk)
            else:
                view = memoryview(chunk)
                out.append(view[:n])  # type: ignore[arg-type]
                self._chunks[0] = view[n:]
                n = 0
        return out

    async def _room_for_part(self) -> None:
        self._raise_if_failed()
        while len(self._tasks) >= self._config.parts_in_flight:
            await asyncio.wait({self._tasks[0]})  # never cancels the request itself
            self._raise_if_failed()

    async def _drain(self) -> None:
        await self._wait_all()
        self._raise_if_failed()

    async def _wait_all(self) -> None:
        pending = [t for t in list(self._tasks) if not t.done()]
        if self._mpu is not None and not self._mpu.done():
            pending.append(self._mpu)  # type: ignore[arg-type]
        if pending:
            await asyncio.wait(pending)
