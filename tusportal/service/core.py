"""UploadService: creating, appending to, terminating and expiring uploads.

It knows no HTTP. Callers pass parsed values and an async iterator of body chunks that simply ends
when the client goes away; the service commits whatever reached storage, so a client that
disconnects mid-PATCH keeps every byte that was written.

Offset truth: the committed offset in PostgreSQL. Before appending, storage is reconciled with it:
bytes past the committed offset (left by a crash) are truncated; if storage holds fewer bytes than
committed (lost in a power cut before the page cache reached the disk), the offset is lowered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog

from tusportal import metrics
from tusportal.errors import (
    BodyExceedsLength,
    ChecksumMismatch,
    ConcatenationForbidden,
    LengthAlreadySet,
    LengthBelowOffset,
    OffsetMismatch,
    TusError,
    UploadExpired,
    UploadInterrupted,
    UploadLocked,
    UploadNotFinished,
    UploadNotFound,
    UploadTooLarge,
)
from tusportal.events import emit
from tusportal.events.hooks import PreCreateHook
from tusportal.logging import bind_upload, upload_context
from tusportal.protocol import (
    Checksum,
    Final,
    Metadata,
    Partial,
    filename_and_type,
    metadata_text,
    new_hasher,
    safe_content_type,
    serialize_metadata,
)
from tusportal.protocol import Hasher as DigestHasher
from tusportal.service.batches import BatchService
from tusportal.service.concat import Concatenation
from tusportal.service.hashing import RunningHashes, Sha256
from tusportal.state.locks import LockManager
from tusportal.state.outbox import NewEvent
from tusportal.state.uploads import Upload, UploadRepository
from tusportal.storage.base import Describer, RangeReader, Store, StoreState, Terminator, Writer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    max_size: int = 0  # 0: unlimited
    expiration_seconds: float = 24 * 3600
    fsync_every_patch: bool = False
    checkpoint_bytes: int = 64 * 1024 * 1024
    download_base: str | None = None  # e.g. "https://up.example.com/files/", for event payloads
    concat_pause_seconds: float = 0.0  # fault injection for crash tests: sleep between parts


def new_upload_id() -> str:
    # 144 random bits, URL-safe
    return secrets.token_urlsafe(18)


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an (empty) async generator


@dataclass
class _Stream:
    """What happened while a body streamed into a writer."""

    received: int = 0
    overflow: bool = False
    interrupted: bool = False


class UploadService:
    """Called for a request, each method binds the upload's id and owner to the request's later log
    lines (`bind_upload`); the cleanup methods bind each upload for its own lines only."""

    def __init__(
        self,
        *,
        uploads: UploadRepository,
        locks: LockManager,
        store: Store,
        config: ServiceConfig,
        batches: BatchService | None = None,
        pre_create: PreCreateHook | None = None,
    ):
        self.pre_create = pre_create
        self.uploads = uploads
        self.locks = locks
        self.store = store
        self.config = config
        self.batches = batches
        self.concat = Concatenation(self)
        self.hashes = RunningHashes()
        # the store's optional capabilities, looked up once: isinstance() against a runtime
        # Protocol inspects every member (about 20 us), too slow for each request
        self._describer = store if isinstance(store, Describer) else None
        self._terminator = store if isinstance(store, Terminator) else None

    # --- rules -------------------------------------------------------------------------

    def _check_size(self, length: int) -> None:
        if self.config.max_size and length > self.config.max_size:
            raise UploadTooLarge(
                f"Upload-Length {length} exceeds this server's maximum of {self.config.max_size} bytes"
            )

    @staticmethod
    def _check_live(upload: Upload) -> None:
        if upload.state == "terminated":
            raise UploadNotFound()
        if upload.state == "expired" or (upload.state == "active" and upload.expired):
            raise UploadExpired()

    # --- creation ----------------------------------------------------------------------

    async def create(
        self,
        *,
        length: int | None,
        metadata: Metadata,
        metadata_raw: str | None,
        body: AsyncIterator[bytes] | None = None,
        content_length: int | None = None,
        checksum: Checksum | None = None,
        concat: Partial | Final | None = None,
        part_ids: list[str] | None = None,
        owner_id: str | None = None,
    ) -> Upload:
        """Create an upload, with its first bytes when `body` is given (creation-with-upload).
        `owner_id` is the account it belongs to (None when auth is off); the caller authorized it.

        Nobody knows the new id until this returns, so no lock is needed: bytes are written first
        and the row is inserted once, with its final offset, in a single statement. An upload joins
        a batch through the `batch` metadata key; the batch is checked before any byte is stored.
        """
        kind = "partial" if isinstance(concat, Partial) else "final" if isinstance(concat, Final) else None
        parts: list[Upload] = []
        if kind == "final":
            parts, length = await self.concat.check_parts(part_ids or [])
            body = None
        if length is not None:
            self._check_size(length)
            if content_length is not None and content_length > length:
                raise BodyExceedsLength()
        text = metadata_text(metadata)
        if self.pre_create is not None:
            # the blocking pre-create hook may reject the upload or amend its metadata
            amended = await self.pre_create.check(length=length, metadata=text)
            if amended is not None:
                metadata = {k: None if v is None else v.encode() for k, v in amended.items()}
                metadata_raw = serialize_metadata(metadata) or None
                text = metadata_text(metadata)
        batch_id = text.get("batch") if kind != "partial" else None
        if batch_id is not None and self.batches is not None:
            await self.batches.check_joinable(batch_id)
        elif batch_id is not None:
            batch_id = None
        upload_id = new_upload_id()
        bind_upload(upload_id, owner_id)
        key = upload_id
        written = 0
        state: StoreState | None = None
        if self._describer is not None:
            _, content_type = filename_and_type(metadata)
            state = self._describer.describe(
                key,
                None,
                length=length,
                content_type=safe_content_type(content_type) if content_type else None,
            )
        running = hashlib.sha256() if kind is None else None
        if body is not None:
            writer, hasher = self._writer(key, 0, checksum, None if state is None else state, running)
            try:
                stream = await self._pump(body, writer, self._limit(length, 0), None, None)
                # the remainder and the fsync of a finishing body in one storage job
                finishing = length is not None and stream.received == length and not stream.overflow
                sync = bool(stream.received) and not stream.overflow
                written = await writer.flush(fsync=sync and (finishing or self.config.fsync_every_patch))
            finally:
                await writer.close()
            state = writer.state or state
            if stream.overflow:
                await self._discard(key, state)
                raise BodyExceedsLength()
            if checksum is not None and not self._verified(checksum, hasher, stream, content_length):
                await self._discard(key, state)
                raise ChecksumMismatch()
        elif length == 0 and state is None:
            state = await self.store.create(key)
        finished = kind != "final" and length is not None and written == length
        if finished:
            try:
                state = await self.store.make_durable(key, state, new=True) or state
            except TusError:
                await self._discard(key, state)
                raise
        draft = Upload(
            id=upload_id,
            state="finished" if finished else "active",
            offset=written,
            length=length,
            metadata_raw=metadata_raw,
            metadata=text,
            concat_kind=kind,
            concat_parts=[p.id for p in parts] if kind == "final" else None,
            owner_id=owner_id,
            batch_id=batch_id,
            storage_key=key,
            storage_state=state,
            created_at=datetime.now(UTC),
            expires_at=None,
            finished_at=None,
            locked=False,
            expired=False,
        )
        events = []
        if kind != "partial":  # partial uploads are not files in their own right
            events.append(emit.upload_created(draft))
            if finished:
                assert running is not None
                events.append(self._file_uploaded(draft, running.hexdigest()))
        insert = dict(
            upload_id=upload_id,
            storage_key=key,
            offset=written,
            length=length,
            metadata_raw=metadata_raw,
            metadata=text,
            expires_in=self.config.expiration_seconds,
            finished=finished,
            storage_state=state,
            events=events,
            concat_kind=kind,
            concat_parts=draft.concat_parts,
            owner_id=owner_id,
            batch_id=batch_id,
        )
        if batch_id is not None and self.batches is not None:
            try:
                async with self.uploads.db.transaction() as conn:
                    await self.batches.check_joinable(batch_id, conn)  # again, under the batch lock
                    upload = await self.uploads.insert(**insert, conn=conn)  # type: ignore[arg-type]
                    if finished:
                        await self.batches.complete_in(conn, batch_id)
            except TusError:
                await self._discard(key, state)
                raise
        else:
            upload = await self.uploads.insert(**insert)  # type: ignore[arg-type]
        if running is not None and not finished:
            self.hashes.put(upload_id, written, running)
        metrics.UPLOADS.labels("created").inc()
        metrics.BYTES_RECEIVED.inc(written)
        if finished:
            metrics.UPLOADS.labels("finished").inc()
        log.info("upload_created", upload_id=upload_id, length=length, offset=written, concat=kind)
        if finished:
            log.info("upload_finished", upload_id=upload_id, length=length)
        if kind == "final":
            upload = await self.concat.assemble_if_ready(upload_id) or upload
        return upload

    # --- reading state -----------------------------------------------------------------

    async def _live(self, upload_id: str) -> Upload:
        """The upload, unless it does not exist, was terminated (404) or expired (410)."""
        upload = await self.uploads.get(upload_id)
        if upload is None:
            raise UploadNotFound()
        bind_upload(upload.id, upload.owner_id)
        self._check_live(upload)
        return upload

    async def head(self, upload_id: str) -> Upload:
        upload = await self._live(upload_id)
        if upload.concat_kind == "final":
            # A final upload takes no PATCH: only an assembler ever holds its lease, and a HEAD
            # must not interrupt it (a client polling HEAD would abort every assembly in turn).
            if upload.state == "active" and not upload.locked:
                self.concat.assemble_soon(upload_id)  # in case a crash cut an assembly short
            return upload
        if upload.locked:
            # a PATCH is open: ask it to save and let go, so the offset we report is current
            upload, token = await self.locks.acquire(upload_id)
            released = await self.uploads.release(upload_id, token)
            upload = released or upload
            self._check_live(upload)
        if upload.state == "active" and upload.offset and upload.offset == upload.length:
            # every byte arrived but the completion was cut short (a crash): complete it now
            return await self.append(upload_id, offset=upload.offset, body=_no_body())
        if upload.state == "active" and upload.offset:
            held = await self.store.size(upload.storage_key, upload.storage_state)
            if held < upload.offset:
                await self._lower_offset(upload, held)
                upload = await self.uploads.get(upload_id) or upload
        return upload

    async def download(self, upload_id: str) -> Upload:
        upload = await self._live(upload_id)
        if upload.concat_kind == "partial":
            raise UploadNotFound("partial uploads are not files; download the final upload")
        if not upload.finished:
            raise UploadNotFinished()
        return upload

    # --- appending ---------------------------------------------------------------------

    async def append(
        self,
        upload_id: str,
        *,
        offset: int,
        body: AsyncIterator[bytes],
        content_length: int | None = None,
        checksum: Checksum | None = None,
        declared_length: int | None = None,
    ) -> Upload:
        upload, token = await self.locks.acquire(upload_id)
        bind_upload(upload.id, upload.owner_id)
        saved = False
        writer: Writer | None = None
        try:
            self._check_live(upload)
            if upload.concat_kind == "final":
                raise ConcatenationForbidden()
            length = upload.length
            new_length = None
            if declared_length is not None:
                if length is not None and declared_length != length:
                    raise LengthAlreadySet()
                if length is None:
                    self._check_size(declared_length)
                    new_length = length = declared_length
            current, state = await self._reconcile(upload)
            if new_length is not None and self._describer is not None:
                state = self._describer.describe(upload.storage_key, state, length=new_length)
            if offset != current:
                raise OffsetMismatch(f"Upload-Offset {offset} does not match the current offset {current}")
            if length is not None and length < current:
                raise LengthBelowOffset()
            if upload.finished:
                if content_length:
                    raise BodyExceedsLength("the upload is already complete")
                saved = True
                return await self._release(upload, token, offset=None)
            limit = self._limit(length, current)
            if content_length is not None and limit is not None and content_length > limit:
                raise BodyExceedsLength(
                    f"the body ({content_length} bytes) goes beyond the upload's end "
                    f"({limit} bytes remain); the chunk was discarded"
                )

            running = self.hashes.take(upload_id, current) if upload.concat_kind != "partial" else None
            writer, hasher = self._writer(upload.storage_key, current, checksum, state, running)
            metrics.ACTIVE_PATCHES.inc()
            try:
                stream = await self._pump(
                    body, writer, limit, (upload_id, token), None if checksum else current
                )
            finally:
                metrics.ACTIVE_PATCHES.dec()
            # the remainder and, on completion, the fsync in one storage job (make_durable then
            # skips the file)
            completing = not stream.overflow and length is not None and current + stream.received == length
            sync = bool(stream.received) and not stream.overflow
            written = await writer.flush(fsync=sync and (completing or self.config.fsync_every_patch))
            complete = not stream.overflow and length is not None and current + written == length
            await writer.close()
            state = writer.state or state
            writer = None

            rejected: Exception | None = None
            if stream.overflow:
                rejected = BodyExceedsLength()
            elif checksum is not None and not self._verified(checksum, hasher, stream, content_length):
                rejected = UploadInterrupted() if stream.interrupted else ChecksumMismatch()
            if rejected is not None:
                self.hashes.drop(upload_id)
                state = await self.store.truncate(upload.storage_key, current, state) or state
                saved = True
                await self._release(upload, token, offset=None, length=new_length, state=state)
                if stream.interrupted:
                    await self.locks.announce_released(upload_id)
                raise rejected

            new_offset = current + written
            if complete:
                if written and getattr(self.store, "completion_consumes_state", False):
                    # commit "every byte is stored" before the store completes the object: a crash
                    # between that completion and the commit below then leaves offset == length,
                    # and the next request for the upload (a HEAD, a PATCH) completes it again
                    await self.uploads.checkpoint(
                        upload_id, token, new_offset, self.config.expiration_seconds, state
                    )
                state = await self.store.make_durable(upload.storage_key, state) or state
            saved = True
            events = []
            if complete and upload.concat_kind != "partial":
                done = dataclasses.replace(
                    upload, offset=new_offset, length=length, state="finished", storage_state=state
                )
                digest = running.hexdigest() if running is not None else await self.sha256_of(done)
                events.append(self._file_uploaded(done, digest))
            result = await self._release(
                upload,
                token,
                offset=new_offset,
                length=new_length,
                finished=complete,
                state=state,
                events=events,
            )
            if running is not None and not complete:
                self.hashes.put(upload_id, new_offset, running)
            metrics.BYTES_RECEIVED.inc(written)
            if complete:
                metrics.UPLOADS.labels("finished").inc()
            log.debug(
                "chunk_written",
                upload_id=upload_id,
                offset=new_offset,
                bytes=written,
                interrupted=stream.interrupted,
            )
            if complete:
                log.info("upload_finished", upload_id=upload_id, length=length)
                if upload.concat_kind == "partial":
                    await self.concat.on_partial_finished(upload_id)
            if stream.interrupted:
                await self.locks.announce_released(upload_id)
                raise UploadInterrupted()
            return result
        finally:
            if not saved:
                await self._save_on_error(upload, token, writer)

    async def _save_on_error(self, upload: Upload, token: str, writer: Writer | None) -> None:
        """An error escaped mid-request: keep what reached storage, then let go of the lease."""
        offset = None
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.close()
            if writer.written:
                offset = upload.offset + writer.written
        with contextlib.suppress(Exception):
            await self.uploads.release(
                upload.id,
                token,
                offset=offset,
                expires_in=self.config.expiration_seconds if offset is not None else None,
                storage_state=writer.state if writer is not None else None,
            )

    async def _release(
        self,
        upload: Upload,
        token: str,
        *,
        offset: int | None,
        length: int | None = None,
        finished: bool = False,
        state: StoreState | None = None,
        events: list[NewEvent] | None = None,
    ) -> Upload:
        kwargs = dict(
            offset=offset,
            length=length,
            finished=finished,
            expires_in=None if finished else self.config.expiration_seconds,
            storage_state=state,
            events=events or (),
        )
        if finished and upload.batch_id and self.batches is not None:
            # the batch may complete with this file: decide it in the same transaction
            async with self.uploads.db.transaction() as conn:
                await self.batches.batches.lock(conn, upload.batch_id)
                released = await self.uploads.release(upload.id, token, conn=conn, **kwargs)  # type: ignore[arg-type]
                if released is not None:
                    await self.batches.complete_in(conn, upload.batch_id)
        else:
            released = await self.uploads.release(upload.id, token, **kwargs)  # type: ignore[arg-type]
        if released is None:
            # our lease lapsed and someone else took the upload over: nothing was committed
            log.warning("lease_lost", upload_id=upload.id)
            raise UploadLocked("the upload was taken over by another request; retry from HEAD")
        return released

    async def _reconcile(self, upload: Upload) -> tuple[int, StoreState | None]:
        """Make storage agree with the committed offset; returns where to append, and the store's
        state after the repair."""
        state = upload.storage_state
        held = await self.store.size(upload.storage_key, state)
        if held > upload.offset:
            log.info("garbage_truncated", upload_id=upload.id, committed=upload.offset, held=held)
            state = await self.store.truncate(upload.storage_key, upload.offset, state) or state
            return upload.offset, state
        if held < upload.offset:
            await self._lower_offset(upload, held)
            return held, state
        return upload.offset, state

    async def _lower_offset(self, upload: Upload, held: int) -> None:
        """Storage lost committed bytes (a power cut before the page cache reached the disk):
        never promise them again."""
        log.warning("offset_lowered", upload_id=upload.id, committed=upload.offset, held=held)
        await self.uploads.lower_offset(upload.id, held)

    def _file_uploaded(self, upload: Upload, sha256: str) -> NewEvent:
        base = self.config.download_base
        return emit.file_uploaded(upload, sha256=sha256, download_url=base + upload.id if base else None)

    async def sha256_of(self, upload: Upload) -> str:
        """Hash a complete object by reading it once: the fallback when no running hash was kept
        (a restart or another instance in between), and for assembled finals."""
        running = hashlib.sha256()
        size = upload.length or 0
        if size and isinstance(self.store, RangeReader):
            async for chunk in self.store.read(upload.storage_key, 0, size - 1, upload.storage_state):
                if len(chunk) > 65536:
                    await asyncio.to_thread(running.update, chunk)
                else:
                    running.update(chunk)
        return running.hexdigest()

    def _limit(self, length: int | None, offset: int) -> int | None:
        if length is not None:
            return length - offset
        if self.config.max_size:
            return self.config.max_size - offset
        return None

    def _writer(
        self,
        key: str,
        offset: int,
        checksum: Checksum | None,
        state: StoreState | None,
        running: Sha256 | None = None,
    ) -> tuple[Writer, DigestHasher | None]:
        hasher = new_hasher(checksum.algorithm) if checksum is not None else None
        hashers = [h for h in (hasher, running) if h is not None]
        return self.store.writer(key, offset, hashers or None, state), hasher

    @staticmethod
    def _verified(
        checksum: Checksum, hasher: DigestHasher | None, stream: _Stream, content_length: int | None
    ) -> bool:
        # a chunk that did not arrive whole cannot be verified: it is discarded
        if stream.interrupted or (content_length is not None and stream.received != content_length):
            return False
        assert hasher is not None
        return hasher.digest() == checksum.digest

    async def _pump(
        self,
        body: AsyncIterator[bytes],
        writer: Writer,
        limit: int | None,
        lease: tuple[str, str] | None,
        checkpoint_from: int | None,
    ) -> _Stream:
        """Copy body chunks into the writer until the body ends, the limit is passed, or the lock
        holder is asked to let go (a release request, graceful shutdown, or a lapsed lease)."""
        stream = _Stream()
        step = self.config.checkpoint_bytes
        next_checkpoint = step

        async def heartbeat_checkpoint() -> None:
            kick = getattr(writer, "kick", None)
            if kick is not None:
                kick()  # buffered bytes of a stalled client go to storage, for the next beat
            if lease is not None and checkpoint_from is not None and writer.written:
                await self.uploads.checkpoint(
                    lease[0],
                    lease[1],
                    checkpoint_from + writer.written,
                    self.config.expiration_seconds,
                    writer.state,
                )

        with anyio.CancelScope() as scope:
            hold = (
                self.locks.hold(lease[0], lease[1], scope.cancel, heartbeat_checkpoint)
                if lease is not None
                else contextlib.nullcontext()
            )
            with hold as lease_state:
                clock = asyncio.get_running_loop().time
                async for chunk in body:
                    if lease_state is not None and clock() > lease_state.valid_until:
                        log.warning("lease_expiring_stop", upload_id=lease[0] if lease else None)
                        stream.interrupted = True
                        break
                    stream.received += len(chunk)
                    if limit is not None and stream.received > limit:
                        stream.overflow = True
                        break
                    await writer.write(chunk)
                    if (
                        checkpoint_from is not None
                        and lease is not None
                        and writer.written >= next_checkpoint
                    ):
                        next_checkpoint = writer.written + step
                        await self.uploads.checkpoint(
                            lease[0],
                            lease[1],
                            checkpoint_from + writer.written,
                            self.config.expiration_seconds,
                            writer.state,
                        )
        stream.interrupted = stream.interrupted or scope.cancelled_caught
        return stream

    async def _discard(self, key: str, state: StoreState | None) -> None:
        if self._terminator is not None:
            await self._terminator.delete(key, state)
        else:
            await self.store.truncate(key, 0, state)

    # --- termination -------------------------------------------------------------------

    async def terminate(self, upload_id: str) -> None:
        upload, token = await self.locks.acquire(upload_id)
        bind_upload(upload.id, upload.owner_id)
        try:
            self._check_live(upload)
        except Exception:
            await self.uploads.release(upload_id, token)
            raise
        events = [] if upload.concat_kind == "partial" else [emit.upload_terminated(upload)]
        if upload.batch_id and self.batches is not None:
            async with self.uploads.db.transaction() as conn:
                await self.batches.batches.lock(conn, upload.batch_id)
                await self.uploads.mark_terminated(upload_id, token, events, conn=conn)
                await self.batches.complete_in(conn, upload.batch_id)
        else:
            await self.uploads.mark_terminated(upload_id, token, events)
        if self._terminator is not None:
            await self._terminator.delete(upload.storage_key, upload.storage_state)
        metrics.UPLOADS.labels("terminated").inc()
        log.info("upload_terminated", upload_id=upload_id)

    # --- cleanup -----------------------------------------------------------------------

    async def expire_idle(
        self, *, dry_run: bool = False, on_removed: Callable[[Upload], None] | None = None
    ) -> list[str]:
        """Expire unfinished uploads whose time ran out and remove their bytes; `on_removed` is
        told of each one as it goes."""
        removed = []
        for upload in await self.uploads.expired_candidates():
            if dry_run:
                removed.append(upload.id)
                if on_removed is not None:
                    on_removed(upload)
                continue
            events = [] if upload.concat_kind == "partial" else [emit.upload_expired(upload)]
            with upload_context(upload.id, upload.owner_id):
                if await self._expire(upload, events):
                    if self._terminator is not None:
                        await self._terminator.delete(upload.storage_key, upload.storage_state)
                    removed.append(upload.id)
                    if on_removed is not None:
                        on_removed(upload)
                    metrics.UPLOADS.labels("expired").inc()
                    log.info("upload_expired", upload_id=upload.id, offset=upload.offset)
        return removed

    async def _expire(self, upload: Upload, events: list[NewEvent]) -> bool:
        if upload.batch_id and self.batches is not None:
            async with self.uploads.db.transaction() as conn:
                await self.batches.batches.lock(conn, upload.batch_id)
                expired = await self.uploads.mark_expired(upload.id, events, conn=conn)
                if expired:
                    await self.batches.complete_in(conn, upload.batch_id)
                return expired
        return await self.uploads.mark_expired(upload.id, events)
