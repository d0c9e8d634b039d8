"""UploadService against a real PostgreSQL with the in-memory store twin: the rules that are about
ordering and state, checked without HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tusportal.errors import (
    BodyExceedsLength,
    ChecksumMismatch,
    LengthAlreadySet,
    OffsetMismatch,
    UploadNotFound,
    UploadTooLarge,
)
from tusportal.protocol import Checksum
from tusportal.service import ServiceConfig, UploadService
from tusportal.state import migrations
from tusportal.state.db import Database
from tusportal.state.locks import LockManager
from tusportal.state.uploads import UploadRepository
from tusportal.storage.memory import MemoryStore


class RecordingStore(MemoryStore):
    """Records the order of durable flushes, to check they precede the completion commit."""

    def __init__(self, uploads_seen: list[tuple[str, str]]):
        super().__init__()
        self.events = uploads_seen

    def synced(self, key: str) -> None:
        self.events.append(("fsync", key))
        super().synced(key)

    async def make_durable(self, key: str, state=None, *, new: bool = False):
        self.events.append(("durable", key))
        return await super().make_durable(key, state, new=new)


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.fixture
async def service_factory(postgres):
    made: list[tuple[Database, LockManager]] = []

    async def make(**config) -> tuple[UploadService, RecordingStore, list[tuple[str, str]]]:
        db = Database(postgres.new_database(), min_size=1, max_size=4)
        await db.open()
        async with db.connection() as conn:
            await migrations.apply(conn)
        uploads = UploadRepository(db, lease_seconds=5)
        locks = LockManager(db, uploads, lease_seconds=5, wait_seconds=2)
        await locks.start()
        made.append((db, locks))
        events: list[tuple[str, str]] = []
        store = RecordingStore(events)
        return (
            UploadService(uploads=uploads, locks=locks, store=store, config=ServiceConfig(**config)),
            store,
            events,
        )

    yield make
    for db, locks in made:
        await locks.stop()
        await db.close()


async def test_completion_is_durable_before_it_is_committed(service_factory) -> None:
    service, _store, events = await service_factory()
    upload = await service.create(length=6, metadata={}, metadata_raw=None)
    await service.append(upload.id, offset=0, body=body(b"abc"))
    assert events == []  # fsync of every PATCH is off by default
    original_release = service.uploads.release

    async def release_spy(*args, **kwargs):
        if kwargs.get("finished"):
            events.append(("commit_finished", args[0]))
        return await original_release(*args, **kwargs)

    service.uploads.release = release_spy  # type: ignore[method-assign]
    done = await service.append(upload.id, offset=3, body=body(b"def"))
    assert done.finished and done.offset == 6
    # the last bytes are fsync'd by the writer, then the object is made durable, then committed
    assert events == [("fsync", upload.id), ("durable", upload.id), ("commit_finished", upload.id)]


async def test_fsync_every_patch_setting(service_factory) -> None:
    service, _store, events = await service_factory(fsync_every_patch=True)
    upload = await service.create(length=10, metadata={}, metadata_raw=None)
    await service.append(upload.id, offset=0, body=body(b"12345"))
    assert events == [("fsync", upload.id)]
    await service.append(upload.id, offset=5, body=body(b"67890"))
    # completion: the writer fsyncs the file, make_durable the rest (directory)
    assert events == [("fsync", upload.id), ("fsync", upload.id), ("durable", upload.id)]


async def test_creation_with_upload_completes_in_one_statement(service_factory) -> None:
    service, store, events = await service_factory()
    upload = await service.create(
        length=4, metadata={}, metadata_raw=None, body=body(b"ab", b"cd"), content_length=4
    )
    assert upload.finished and upload.offset == 4
    assert ("durable", upload.id) in events
    assert bytes(store.blobs[upload.id]) == b"abcd"


async def test_rejections_leave_the_upload_unchanged(service_factory) -> None:
    service, store, _ = await service_factory(max_size=100)
    with pytest.raises(UploadTooLarge):
        await service.create(length=101, metadata={}, metadata_raw=None)
    upload = await service.create(length=10, metadata={}, metadata_raw=None)
    await service.append(upload.id, offset=0, body=body(b"1234"))
    with pytest.raises(OffsetMismatch):
        await service.append(upload.id, offset=3, body=body(b"x"))
    with pytest.raises(BodyExceedsLength):
        await service.append(upload.id, offset=4, body=body(b"567890", b"X"))
    import hashlib

    bad = Checksum("sha1", hashlib.sha1(b"nope").digest())
    with pytest.raises(ChecksumMismatch):
        await service.append(upload.id, offset=4, body=body(b"56"), checksum=bad, content_length=2)
    with pytest.raises(LengthAlreadySet):
        await service.append(upload.id, offset=4, body=body(b""), declared_length=11)
    current = await service.head(upload.id)
    assert current.offset == 4 and not current.locked
    assert bytes(store.blobs[upload.id]) == b"1234"
    with pytest.raises(UploadNotFound):
        await service.head("does-not-exist")


async def test_deferred_length_declared_on_a_later_patch(service_factory) -> None:
    service, _store, _ = await service_factory(max_size=50)
    upload = await service.create(length=None, metadata={}, metadata_raw=None)
    step = await service.append(upload.id, offset=0, body=body(b"abc"))
    assert step.length is None and step.offset == 3
    with pytest.raises(UploadTooLarge):
        await service.append(upload.id, offset=3, body=body(b""), declared_length=51)
    done = await service.append(upload.id, offset=3, body=body(b"de"), declared_length=5)
    assert done.finished and done.length == 5


async def test_checkpoints_commit_progress_during_a_long_patch(service_factory) -> None:
    service, _store, _ = await service_factory(checkpoint_bytes=1000)
    upload = await service.create(length=10_000, metadata={}, metadata_raw=None)
    seen: list[int] = []

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 500
            row = await service.uploads.get(upload.id)
            assert row is not None
            seen.append(row.offset)

    await service.append(upload.id, offset=0, body=slow_body())
    assert seen[-1] >= 2000  # committed while the body was still streaming


def _spy_events(service) -> list:
    seen: list = []
    for name in ("release", "insert"):
        original = getattr(service.uploads, name)

        async def spy(*args, _original=original, **kwargs):
            seen.extend(kwargs.get("events") or ())
            return await _original(*args, **kwargs)

        setattr(service.uploads, name, spy)
    return seen


async def test_file_uploaded_carries_sha256_hashed_while_streaming(service_factory) -> None:
    import hashlib

    service, _store, _ = await service_factory()
    events = _spy_events(service)
    data = bytes(range(256)) * 5000
    upload = await service.create(length=len(data), metadata={}, metadata_raw=None, body=body(data[:1000]))
    await service.append(upload.id, offset=1000, body=body(data[1000:700_000]))
    assert len(service.hashes) == 1  # the running hash is kept between PATCHes
    await service.append(upload.id, offset=700_000, body=body(data[700_000:]))
    uploaded = [e for e in events if e.type == "tusportal.file.uploaded"]
    assert len(uploaded) == 1 and uploaded[0].data["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(service.hashes) == 0


async def test_sha256_rebuilt_by_reading_when_the_running_hash_is_gone(service_factory) -> None:
    import hashlib

    service, _store, _ = await service_factory()
    events = _spy_events(service)
    upload = await service.create(length=6, metadata={}, metadata_raw=None)
    await service.append(upload.id, offset=0, body=body(b"abc"))
    service.hashes.drop(upload.id)  # as after a restart, or when another instance took the PATCH
    await service.append(upload.id, offset=3, body=body(b"def"))
    uploaded = [e for e in events if e.type == "tusportal.file.uploaded"]
    assert uploaded[0].data["sha256"] == hashlib.sha256(b"abcdef").hexdigest()


async def test_rejected_chunk_does_not_poison_the_running_hash(service_factory) -> None:
    import hashlib

    service, _store, _ = await service_factory()
    events = _spy_events(service)
    upload = await service.create(length=6, metadata={}, metadata_raw=None)
    await service.append(upload.id, offset=0, body=body(b"abc"))
    bad = Checksum("sha1", hashlib.sha1(b"zzz").digest())
    with pytest.raises(ChecksumMismatch):
        await service.append(upload.id, offset=3, body=body(b"XYZ"), checksum=bad, content_length=3)
    await service.append(upload.id, offset=3, body=body(b"def"))
    uploaded = [e for e in events if e.type == "tusportal.file.uploaded"]
    assert uploaded[0].data["sha256"] == hashlib.sha256(b"abcdef").hexdigest()


async def test_partial_uploads_emit_no_file_events_and_final_is_hashed(service_factory) -> None:
    import hashlib

    from tusportal.protocol import Final, Partial

    service, store, _ = await service_factory()
    events = _spy_events(service)
    a = await service.create(length=3, metadata={}, metadata_raw=None, concat=Partial(), body=body(b"abc"))
    b = await service.create(length=2, metadata={}, metadata_raw=None, concat=Partial())
    final = await service.create(
        length=None, metadata={}, metadata_raw=None, concat=Final(("x", "y")), part_ids=[a.id, b.id, a.id]
    )
    assert not final.finished
    assert [e.type for e in events] == ["tusportal.upload.created"]
    await service.append(b.id, offset=0, body=body(b"de"))
    uploaded = [e for e in events if e.type == "tusportal.file.uploaded"]
    assert len(uploaded) == 1 and uploaded[0].subject == final.id
    assert uploaded[0].data["sha256"] == hashlib.sha256(b"abcdeabc").hexdigest()
    assert bytes(store.blobs[final.id]) == b"abcdeabc"


async def test_state_change_and_its_events_commit_together_in_one_statement(service_factory) -> None:
    service, _store, _ = await service_factory()
    statements: list[str] = []
    db = service.uploads.db
    originals = db.fetchone, db.fetchall, db.execute

    def spy(original):
        async def run(sql, params=None):
            statements.append(sql)
            return await original(sql, params)

        return run

    db.fetchone, db.fetchall, db.execute = (spy(o) for o in originals)  # type: ignore[method-assign]
    upload = await service.create(
        length=3, metadata={}, metadata_raw=None, body=body(b"abc"), content_length=3
    )
    db.fetchone, db.fetchall, db.execute = originals  # type: ignore[method-assign]
    assert len(statements) == 1
    assert "INSERT INTO uploads" in statements[0] and "INSERT INTO events" in statements[0]
    rows = await service.uploads.db.fetchall(
        "SELECT type FROM events WHERE upload_id = %s ORDER BY type", (upload.id,)
    )
    assert [r[0] for r in rows] == ["tusportal.file.uploaded", "tusportal.upload.created"]
