"""S3Store: uploads in S3-compatible object storage (AWS, MinIO, SeaweedFS, R2, B2, ...).

The final object of upload `key` is `<prefix><key>`; it appears only when the upload completes.
Until then its bytes are multipart parts and pending pieces (see layout.py), described by the state
the service persists with the committed offset. Because that state names exactly what holds the
committed bytes, `size` is answered from it without a request: whatever a crashed writer left
beyond it is referenced by no state (unique names, parts listed explicitly at completion) and is
removed when the upload completes or is deleted, which list the upload's pending pieces and
in-progress multipart uploads.

Implements Store, Terminator and RangeReader; `describe` (optional) lets the service tell the
store the upload's length and content type up front, so that the last bytes go straight into the
final object (no copy at completion) and the object gets its Content-Type.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from tusportal.errors import StorageUnavailable
from tusportal.storage.base import Hasher, PieceStore, StoreState
from tusportal.storage.s3.aio import AsyncS3, joined, upload_joined_part
from tusportal.storage.s3.cache import PieceCache
from tusportal.storage.s3.client import (
    MultipartUploadMissing,
    ObjectMissing,
    RetryPolicy,
    S3Client,
    StorageInconsistent,
    minio_client,
)
from tusportal.storage.s3.layout import Layout, Part, Piece, part_prefix, restore_pieces
from tusportal.storage.s3.sizing import MAX_PART_SIZE as MAX_COPY
from tusportal.storage.s3.sizing import MIB, clamp_part_size, part_size
from tusportal.storage.s3.sizing import MIN_PART_SIZE as MIN_PART
from tusportal.storage.s3.writer import S3Writer, WriterConfig

log = structlog.get_logger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")


@dataclass(frozen=True)
class S3Config:
    endpoint: str
    bucket: str
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None
    secure: bool = True
    prefix: str = ""
    part_size: int = 8 * MIB
    parts_in_flight: int = 4
    io_threads: int = 16
    max_pieces: int = 32
    piece_cache: int = 32 * MIB  # bytes of pending pieces kept in memory to skip fetching them back
    read_chunk: int = 1 * MIB
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # "crc32": bodies go with their CRC-32 and an unsigned payload; "legacy": minio's SHA-256
    # signature (HTTP) or Content-MD5 (HTTPS), for S3 implementations without x-amz-checksum-*
    payload_checksum: str = "crc32"

    @property
    def object_prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return prefix + "/" if prefix else ""


def _is_completed(found: tuple[int, str] | None, size: int, parts: int | None) -> bool:
    """Whether the object found is the one this upload's completion makes: its size, and (for a
    multipart object, whose ETag ends in "-<number of parts>") its number of parts."""
    if found is None or found[0] != size:
        return False
    _, dash, count = found[1].strip('"').partition("-")
    return parts is None or not dash or not count.isdigit() or int(count) == parts


class S3Store:
    # CompleteMultipartUpload turns parts and pieces into the object: see Store.make_durable
    completion_consumes_state = True

    def __init__(self, config: S3Config, client: S3Client | None = None, pieces: PieceStore | None = None):
        self.config = config
        if client is None:
            minio = minio_client(
                config.endpoint,
                config.access_key,
                config.secret_key,
                region=config.region,
                secure=config.secure,
                connections=config.io_threads,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
            )
            client = S3Client(minio, config.bucket, config.retry, crc32=config.payload_checksum == "crc32")
        self.client = client
        self._executor = ThreadPoolExecutor(config.io_threads, thread_name_prefix="tusportal-s3")
        self._s3 = AsyncS3(
            client, self._executor, f"{config.object_prefix}.pending/", PieceCache(config.piece_cache), pieces
        )
        self._writer_config = WriterConfig(
            part_size=clamp_part_size(config.part_size),
            parts_in_flight=max(1, config.parts_in_flight),
            max_pieces=max(2, config.max_pieces),
        )

    # --- names --------------------------------------------------------------------------

    def object_name(self, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError(f"invalid storage key {key!r}")
        return self.config.object_prefix + key

    def pending_dir(self, key: str) -> str:
        return self._s3.pending_dir(key)

    def _layout(self, key: str, state: StoreState | None) -> Layout:
        return Layout.from_state(state, self.object_name(key))

    # --- Store ----------------------------------------------------------------------------

    def describe(
        self,
        key: str,
        state: StoreState | None,
        *,
        length: int | None = None,
        content_type: str | None = None,
    ) -> StoreState:
        """Record what the store may use: the upload's length (once known) and its content type."""
        layout = self._layout(key, state)
        if length is not None:
            layout.length = length
        if content_type is not None:
            layout.content_type = content_type
        return layout.to_state()

    async def create(self, key: str) -> StoreState | None:
        # nothing to store yet: an empty upload's object is written when it completes
        return self._layout(key, None).to_state()

    async def size(self, key: str, state: StoreState | None = None) -> int:
        return self._layout(key, state).size

    async def truncate(self, key: str, size: int, state: StoreState | None = None) -> StoreState | None:
        layout = self._layout(key, state)
        if size >= layout.size:
            return layout.to_state()
        whole = layout.direct or layout.complete
        kept: list[Part] = []
        end = 0
        for part in layout.parts:
            if end + part.size > size:
                break
            kept.append(part)
            end += part.size
        candidates = layout.pending + layout.retired
        chain = restore_pieces(candidates, end, size)
        if chain is None:
            if not whole:
                raise StorageInconsistent(f"cannot truncate {key} to {size}: those bytes are in a part")
            data = await self._s3.run(self.client.get_range, layout.object, end, size - end)
            chain = [await self._s3.put_piece(key, end, data)]
        chosen = {p.name for p in chain}
        retired: dict[str, Piece] = {p.name: p for p in candidates if p.name not in chosen}
        if whole:
            await self._s3.delete([layout.object])
        log.info("s3_truncated", key=key, size=size, held=layout.size, parts=len(kept))
        return Layout(
            object=layout.object,
            upload_id=layout.upload_id,
            checksum=layout.checksum,
            parts=kept,
            pending=chain,
            retired=list(retired.values()),
            length=layout.length,
            content_type=layout.content_type,
        ).to_state()

    def writer(
        self, key: str, offset: int, hashers: list[Hasher] | None = None, state: StoreState | None = None
    ) -> S3Writer:
        return S3Writer(self._s3, key, offset, hashers or [], self._layout(key, state), self._writer_config)

    async def make_durable(
        self, key: str, state: StoreState | None = None, *, new: bool = False
    ) -> StoreState | None:
        """Complete the object (the pending pieces become its last bytes) and remove everything
        else the upload left in the bucket. S3 acknowledged every byte already: there is no fsync.
        A `new` object written in one PUT without pieces (a small creation-with-upload, whose id
        nobody else knew) cannot have left anything: the sweep's two listings (pieces, multipart
        uploads) are skipped. Any other completion sweeps, since a failed piece write may have
        left an object that no state names."""
        layout = self._layout(key, state)
        if layout.complete:
            return layout.to_state()
        if not layout.direct and layout.length is not None and layout.size != layout.length:
            # fsync-every-patch calls this after every PATCH: nothing to do before the end
            return layout.to_state()
        # a part being built in the background from these pieces: wait for it (the completion
        # below may upload the same part number) and use it if it fits
        await self._s3.background.settle_into(key, layout)
        s3, size = self._s3, layout.size
        try:
            await self._complete(layout)
        except (MultipartUploadMissing, ObjectMissing):
            # a crash after an earlier completion of this upload and before its state was
            # committed: the multipart upload (or a swept piece) is gone because the object is made
            expected = len(layout.parts) + len(self._last_parts(layout)) if layout.upload_id else None
            if not _is_completed(await s3.run(self.client.stat, layout.object), size, expected):
                raise
            log.info("s3_completion_found_done", key=key, size=size)
        try:
            if not (new and layout.direct and not layout.pending and not layout.retired):
                await self._sweep(key, layout)
        except StorageUnavailable as exc:
            # the object is complete: leftover pieces must not undo that (a bucket lifecycle rule
            # on the .pending/ prefix catches them); failing here would leave the service with a
            # state naming a multipart upload that no longer exists
            log.warning("s3_sweep_failed", key=key, error=str(exc))
        log.info("s3_completed", key=key, size=size, parts=len(layout.parts))
        return Layout(
            object=layout.object,
            complete=True,
            object_size=size,
            length=layout.length,
            content_type=layout.content_type,
        ).to_state()

    def _last_parts(self, layout: Layout) -> list[list[Piece]]:
        """The pending pieces of each part the completion uploads, by the rule of part_prefix:
        the fewest pieces that hold a part, again while more remain, then the rest."""
        groups: list[list[Piece]] = []
        pending = list(layout.pending)
        number = (layout.parts[-1].number if layout.parts else 0) + 1
        start = layout.parts_end
        while pending:
            count = part_prefix(pending, part_size(number, start, self.config.part_size, layout.length))
            take = count if 0 < count < len(pending) else len(pending)
            groups.append(pending[:take])
            start += sum(p.size for p in pending[:take])
            pending = pending[take:]
            number += 1
        return groups

    async def _complete(self, layout: Layout) -> None:
        """Make the final object from the parts and pending pieces (a direct object is made)."""
        s3 = self._s3
        if layout.direct:
            return
        if (upload_id := layout.upload_id) is not None:
            parts = list(layout.parts)
            crc32 = layout.checksum == "crc32"
            for group in self._last_parts(layout):
                number = parts[-1].number + 1 if parts else 1
                datas = await s3.fetch(group)
                upload = upload_joined_part
                parts.append(
                    await s3.run(upload, self.client, layout.object, upload_id, number, datas, [], crc32)
                )
            if parts:
                listed = [p.completion() for p in parts]
                await s3.run(self.client.complete_multipart_upload, layout.object, upload_id, listed)
            else:
                await s3.run(self.client.put_object, layout.object, b"", layout.content_type)
            return
        datas = await s3.fetch(layout.pending)
        body = await s3.run(joined, datas, [])
        await s3.run(self.client.put_object, layout.object, body, layout.content_type)

    # --- Concatenator --------------------------------------------------------------------

    async def concatenate(
        self, key: str, parts: list[tuple[str, StoreState | None]], pause: float = 0.0
    ) -> StoreState | None:
        """Build the final object from completed objects in one multipart upload: ranges of at
        least the 5 MiB part minimum are copied on the server (UploadPartCopy); shorter runs are
        downloaded and joined with their neighbours into a part. The object appears only at
        CompleteMultipartUpload, so a crash never leaves it half made; a retry starts over and
        aborts what the crashed attempt left."""
        target = self.object_name(key)
        layouts = [self._layout(part, state) for part, state in parts]
        sources = [(layout.object, layout.size) for layout in layouts]
        total = sum(size for _, size in sources)
        s3, client = self._s3, self.client
        if total < MIN_PART:
            datas = [await s3.run(client.get_range, name, 0, size) for name, size in sources if size]
            body = await s3.run(joined, datas, [])
            await s3.run(client.put_object, target, body, None)
        else:
            upload_id = await s3.run(client.create_multipart_upload, target, None)
            done: list[tuple[int, str]] = []
            buffer: list[bytes] = []
            buffered = 0

            async def flush_buffer() -> None:
                nonlocal buffer, buffered
                body = await s3.run(joined, buffer, [])
                number = len(done) + 1
                done.append((number, await s3.run(client.upload_part, target, upload_id, number, body)))
                buffer, buffered = [], 0

            for index, (name, size) in enumerate(sources):
                start = 0
                if buffered and size:
                    # top the buffer up to a valid part from the head of this source
                    take = min(size, max(MIN_PART - buffered, 0))
                    buffer.append(await s3.run(client.get_range, name, 0, take))
                    buffered += take
                    start = take
                    if buffered >= MIN_PART:
                        await flush_buffer()
                while size - start >= MIN_PART:
                    length = min(size - start, MAX_COPY)
                    if size - start - length and size - start - length < MIN_PART:
                        length = size - start - MIN_PART  # leave a valid last piece of this source
                    number = len(done) + 1
                    copy = client.upload_part_copy
                    done.append((number, await s3.run(copy, target, upload_id, number, name, start, length)))
                    start += length
                if start < size:
                    buffer.append(await s3.run(client.get_range, name, start, size - start))
                    buffered += size - start
                    if buffered >= MIN_PART or index == len(sources) - 1:
                        await flush_buffer()
                if pause:
                    await asyncio.sleep(pause)
            if buffered:
                await flush_buffer()
            await s3.run(client.complete_multipart_upload, target, upload_id, done)
        # a crashed earlier attempt may have left an in-progress multipart upload
        for stale in await s3.run(client.list_multipart_uploads, target):
            await s3.run(client.abort_multipart_upload, target, stale)
        log.info("s3_concatenated", key=key, parts=len(parts), size=total)
        return Layout(object=target, complete=True, object_size=total, length=total).to_state()

    # --- Terminator, RangeReader --------------------------------------------------------

    async def delete(self, key: str, state: StoreState | None = None) -> None:
        layout = self._layout(key, state)
        await self._sweep(key, layout, final_object=True)
        log.info("s3_deleted", key=key)

    async def read(
        self, key: str, start: int, end: int, state: StoreState | None = None
    ) -> AsyncIterator[bytes]:
        # only completed uploads are read; a caller holding the state from before completion
        # still names the right object (and S3 answers "missing" if it is not there)
        layout = self._layout(key, state)
        if end < start:
            return
        stream = self.client.stream_range(layout.object, start, end - start + 1, self.config.read_chunk)
        loop = asyncio.get_running_loop()
        try:
            while True:
                chunk = await loop.run_in_executor(self._executor, next, stream, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            await loop.run_in_executor(self._executor, stream.close)

    # --- housekeeping ---------------------------------------------------------------------

    async def _sweep(self, key: str, layout: Layout, *, final_object: bool = False) -> None:
        """Remove the upload's pieces (referenced or left by crashed writers) and abort its
        in-progress multipart uploads; with `final_object`, the object too."""
        s3 = self._s3
        listed, uploads = await asyncio.gather(
            s3.leftover_pieces(key), s3.run(self.client.list_multipart_uploads, layout.object)
        )
        names = {p.name for p in layout.pending + layout.retired} | set(listed)
        if final_object:
            names.add(layout.object)
            if layout.upload_id is not None:
                uploads = [*uploads, layout.upload_id]
        await asyncio.gather(
            s3.delete(sorted(names)),
            *(s3.run(self.client.abort_multipart_upload, layout.object, u) for u in sorted(set(uploads))),
        )

    async def ensure_bucket(self) -> None:
        await self._s3.run(self.client.ensure_bucket, self.config.region)

    async def ready(self) -> bool:
        return await self._s3.run(self.client.bucket_reachable)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
