"""Completion and part failures of S3 uploads, through the service (real PostgreSQL, real S3):

- a crash between CompleteMultipartUpload and the commit of the finished upload is repaired by the
  next request, and the repeated completion finds the object made instead of failing;
- a part upload that fails while the body is still streaming gives a clean 503, keeps what S3
  acknowledged before it, and the upload resumes from there with every byte (and the event's
  SHA-256) right."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tusportal.errors import StorageUnavailable
from tusportal.service import ServiceConfig, UploadService
from tusportal.state import migrations
from tusportal.state.db import Database
from tusportal.state.events import EventRepository
from tusportal.state.locks import LockManager
from tusportal.state.pieces import PostgresPieceStore
from tusportal.state.uploads import UploadRepository
from tusportal.storage.base import StoreState
from tusportal.storage.s3 import S3Config, S3Store
from tusportal.storage.s3.client import MultipartUploadMissing, S3Client
from tusportal.storage.s3.sizing import MIB

PART = 5 * MIB


class Crash(Exception):
    """Stands for the process dying: not a TusError, nothing handles it."""


class CrashAfterComplete(S3Store):
    """Completes the object in S3, then 'dies' before the service can commit (once)."""

    crashes = 1

    async def make_durable(
        self, key: str, state: StoreState | None = None, *, new: bool = False
    ) -> StoreState | None:
        result = await super().make_durable(key, state, new=new)
        if self.crashes and result and result.get("complete"):
            self.crashes -= 1
            raise Crash("after CompleteMultipartUpload, before the commit")
        return result


class FailingParts(S3Client):
    """S3 answers part number `fail_part` with a lasting error (after the client's own retries)."""

    fail_part: int | None = None

    def upload_part(
        self, name: str, upload_id: str, number: int, data: bytes, checksum: str | None = None
    ) -> str:
        if number == self.fail_part:
            raise StorageUnavailable(f"object storage unavailable (upload_part {number}): scripted")
        return super().upload_part(name, upload_id, number, data, checksum)


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.fixture
async def service_on_s3(postgres, s3_server, s3_bucket) -> AsyncIterator[Any]:
    made: list[tuple[Database, LockManager, S3Store]] = []

    async def make(store_class: type[S3Store] = S3Store, client: S3Client | None = None) -> UploadService:
        db = Database(postgres.new_database(), min_size=1, max_size=4)
        await db.open()
        async with db.connection() as conn:
            await migrations.apply(conn)
        uploads = UploadRepository(db, lease_seconds=5)
        locks = LockManager(db, uploads, lease_seconds=5, wait_seconds=2)
        await locks.start()
        config: S3Config = s3_server.config(s3_bucket, part_size=PART, parts_in_flight=2)
        store = store_class(config, client, PostgresPieceStore(db))  # the default: pieces in PostgreSQL
        made.append((db, locks, store))
        return UploadService(uploads=uploads, locks=locks, store=store, config=ServiceConfig())

    yield make
    for db, locks, store in made:
        await locks.stop()
        await db.close()
        store.close()


async def content(service: UploadService, upload_id: str) -> bytes:
    upload = await service.uploads.get(upload_id)
    assert upload is not None and upload.length is not None
    store = service.store
    assert isinstance(store, S3Store)
    out = bytearray()
    async for chunk in store.read(upload.storage_key, 0, upload.length - 1, upload.storage_state):
        out += chunk
    return bytes(out)


async def uploaded_sha256(service: UploadService, upload_id: str) -> list[str]:
    events = await EventRepository(service.uploads.db).feed("0" * 32, limit=100)
    return [
        e.data["sha256"] for e in events if e.type == "tusportal.file.uploaded" and e.subject == upload_id
    ]


@pytest.mark.parametrize(
    "sizes",
    [
        [6 * MIB, 6 * MIB + 77],  # a part and a piece committed, then the rest as the last part
        [3 * MIB, 3 * MIB + 5],  # pieces then the rest: the last bytes arrive as the last part
        [2 * MIB],  # smaller than a part, length known: a direct object
    ],
    ids=["parts", "pieces-then-part", "direct"],
)
async def test_crash_between_completion_and_commit_is_repaired_by_the_next_request(
    service_on_s3, s3_server, s3_bucket, sizes: list[int]
) -> None:
    service = await service_on_s3(CrashAfterComplete)
    data = os.urandom(sum(sizes))
    upload = await service.create(length=len(data), metadata={}, metadata_raw=None)
    offset = 0
    for size in sizes[:-1]:
        done = await service.append(upload.id, offset=offset, body=chunks(data[offset : offset + size]))
        offset = done.offset
    with pytest.raises(Crash):
        await service.append(upload.id, offset=offset, body=chunks(data[offset:]))

    # what a client does next: HEAD, then send whatever the server says it lacks
    seen = await service.head(upload.id)
    if seen.offset < len(data):
        seen = await service.append(upload.id, offset=seen.offset, body=chunks(data[seen.offset :]))
    assert seen.finished and seen.offset == len(data)
    assert await content(service, upload.id) == data
    assert await uploaded_sha256(service, upload.id) == [hashlib.sha256(data).hexdigest()]
    assert s3_server.objects(s3_bucket) == [f"{upload.storage_key}"]
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert await service.uploads.db.fetchall("SELECT name FROM pending_pieces") == []


async def test_repeated_store_completion_finds_the_object_made(make_s3_store, s3_server, s3_bucket) -> None:
    store = make_s3_store()
    data = os.urandom(7 * MIB + 3)
    state = store.describe("k1", None, length=None)
    for i in range(0, len(data), 2 * MIB):  # parts and pieces, the length unknown until the end
        writer = store.writer("k1", i, None, state)
        async for chunk in chunks(data[i : i + 2 * MIB]):
            await writer.write(chunk)
        await writer.close()
        state = writer.state
    before = state
    done = await store.make_durable("k1", before)
    assert await store.make_durable("k1", before) == done  # the retry of a crashed completion
    assert s3_server.objects(s3_bucket) == ["up/k1"]


async def test_completion_still_fails_when_the_object_was_never_made(make_s3_store) -> None:
    store = make_s3_store()
    writer = store.writer("k2", 0, None, None)
    async for chunk in chunks(os.urandom(6 * MIB)):
        await writer.write(chunk)
    await writer.close()
    state = writer.state
    assert state is not None and state.get("upload_id")
    await store._s3.run(store.client.abort_multipart_upload, "up/k2", state["upload_id"])
    with pytest.raises(MultipartUploadMissing):
        await store.make_durable("k2", state)


async def test_failed_part_mid_stream_gives_503_and_the_upload_resumes(
    service_on_s3, s3_server, s3_bucket
) -> None:
    client = FailingParts(s3_server.store_minio(s3_bucket), s3_bucket)
    client.fail_part = 3
    service = await service_on_s3(S3Store, client)
    data = os.urandom(6 * PART + 123)
    upload = await service.create(length=len(data), metadata={}, metadata_raw=None)
    with pytest.raises(StorageUnavailable) as failed:
        await service.append(upload.id, offset=0, body=chunks(data))
    assert failed.value.status == 503
    # parts 1 and 2 were acknowledged before part 3 failed: they stay; nothing after them counts
    seen = await service.head(upload.id)
    assert seen.offset == 2 * PART and not seen.finished
    client.fail_part = None
    done = await service.append(upload.id, offset=seen.offset, body=chunks(data[seen.offset :]))
    assert done.finished and done.offset == len(data)
    assert await content(service, upload.id) == data
    assert await uploaded_sha256(service, upload.id) == [hashlib.sha256(data).hexdigest()]
    assert s3_server.multipart_uploads(s3_bucket) == []


class CountingLists(S3Client):
    """Counts the listings a completion's sweep makes."""

    lists = 0

    def list_names(self, prefix: str) -> list[str]:
        CountingLists.lists += 1
        return super().list_names(prefix)

    def list_multipart_uploads(self, name: str) -> list[str]:
        CountingLists.lists += 1
        return super().list_multipart_uploads(name)


@pytest.mark.parametrize(
    ("sizes", "lists"),
    [
        ([64 * 1024], 0),  # creation-with-upload of the whole file in one PUT: nothing to look for
        ([6 * MIB + 5], 2),  # a new object made of parts: swept
        ([MIB, MIB], 2),  # completed by a later request: swept, an earlier writer may have crashed
    ],
    ids=["new-direct", "new-multipart", "resumed"],
)
async def test_completion_sweeps_unless_a_new_object_was_put_whole(
    service_on_s3, s3_server, s3_bucket, sizes: list[int], lists: int
) -> None:
    service = await service_on_s3(S3Store, CountingLists(s3_server.store_minio(s3_bucket), s3_bucket))
    data = os.urandom(sum(sizes))
    CountingLists.lists = 0
    upload = await service.create(
        length=len(data),
        metadata={},
        metadata_raw=None,
        body=chunks(data[: sizes[0]]),
        content_length=sizes[0],
    )
    if len(sizes) > 1:
        upload = await service.append(upload.id, offset=upload.offset, body=chunks(data[upload.offset :]))
    assert upload.finished
    assert CountingLists.lists == lists
    assert await content(service, upload.id) == data
    assert s3_server.objects(s3_bucket) == [upload.storage_key]
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert await service.uploads.db.fetchall("SELECT name FROM pending_pieces") == []
