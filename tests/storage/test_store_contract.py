"""One contract suite for every Store: the memory twin, the local-disk store and the S3 store pass the
same tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tusportal.storage.base import LocalFiles, RangeReader, Store, Terminator
from tusportal.storage.local import LocalStore
from tusportal.storage.memory import MemoryStore


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "s3":
        # a real S3 server (tests/storage/conftest.py); `stateful` keeps each key's storage state
        # as the service does, and completes an object before it is read
        return request.getfixturevalue("s3_contract_store")  # type: ignore[no-any-return]
    return LocalStore(tmp_path / "files", batch_bytes=64 * 1024)


async def read_all(store: Store, key: str) -> bytes:
    assert isinstance(store, RangeReader)
    size = await store.size(key)
    if size == 0:
        return b""
    out = bytearray()
    async for chunk in store.read(key, 0, size - 1):
        out += chunk
    return bytes(out)


async def write_chunks(store: Store, key: str, offset: int, chunks: list[bytes]) -> int:
    writer = store.writer(key, offset)
    try:
        for chunk in chunks:
            await writer.write(chunk)
        return await writer.flush()
    finally:
        await writer.close()


async def test_missing_object_has_size_zero(store: Store) -> None:
    assert await store.size("nothing") == 0


async def test_create_then_append_in_pieces(store: Store) -> None:
    await store.create("k")
    data = os.urandom(300_000)
    written = await write_chunks(
        store, "k", 0, [data[i : min(i + 7000, 150_000)] for i in range(0, 150_000, 7000)]
    )
    assert written == 150_000
    written = await write_chunks(store, "k", 150_000, [data[150_000:]])
    assert written == 150_000
    assert await store.size("k") == len(data)
    assert await read_all(store, "k") == data


async def test_truncate_drops_bytes_past_size(store: Store) -> None:
    await write_chunks(store, "t", 0, [b"abcdefgh"])
    await store.truncate("t", 3)
    assert await store.size("t") == 3
    await write_chunks(store, "t", 3, [b"XYZ"])
    assert await read_all(store, "t") == b"abcXYZ"


async def test_writer_feeds_hashers_with_every_byte(store: Store) -> None:
    data = os.urandom(200_000)
    hasher = hashlib.sha256()
    writer = store.writer("h", 0, [hasher])
    for i in range(0, len(data), 10_000):
        await writer.write(data[i : i + 10_000])
    await writer.close()
    assert hasher.digest() == hashlib.sha256(data).digest()


async def test_range_reads(store: Store) -> None:
    data = bytes(range(256)) * 1000
    await write_chunks(store, "r", 0, [data])
    assert isinstance(store, RangeReader)
    out = bytearray()
    async for chunk in store.read("r", 1000, 200_999):
        out += chunk
    assert bytes(out) == data[1000:201_000]


async def test_delete_removes_the_object(store: Store) -> None:
    assert isinstance(store, Terminator)
    await write_chunks(store, "d", 0, [b"bytes"])
    await store.delete("d")
    assert await store.size("d") == 0
    await store.delete("d")  # idempotent


async def test_make_durable_accepts_written_object(store: Store) -> None:
    await write_chunks(store, "f", 0, [b"final"])
    await store.make_durable("f")
    assert await read_all(store, "f") == b"final"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=0, max_value=200_000), min_size=1, max_size=12))
async def test_any_chunking_gives_the_same_bytes(store: Store, sizes: list[int]) -> None:
    data = os.urandom(sum(sizes))
    key = "p" + hashlib.md5(data).hexdigest()[:12]
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(data[pos : pos + size])
        pos += size
    assert await write_chunks(store, key, 0, chunks) == len(data)
    assert await read_all(store, key) == data


def test_local_store_rejects_path_traversal(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert isinstance(store, LocalFiles)
    for key in ("../etc/passwd", "a/b", "", ".", "x" * 300):
        with pytest.raises(ValueError):
            store.path(key)


async def test_concatenate_builds_the_parts_in_order_and_repeats(store: Store) -> None:
    from tusportal.storage.base import Concatenator

    assert isinstance(store, Concatenator)
    a, b = os.urandom(300_000), os.urandom(70_001)
    await write_chunks(store, "pa", 0, [a])
    await write_chunks(store, "pb", 0, [b])
    await store.concatenate("fin", [("pa", None), ("pb", None), ("pa", None)])
    assert await read_all(store, "fin") == a + b + a
    # idempotent: a retry after a crash rebuilds the same object
    await store.concatenate("fin", [("pa", None), ("pb", None), ("pa", None)])
    assert await read_all(store, "fin") == a + b + a


async def test_local_writer_kick_writes_buffered_bytes_without_waiting(tmp_path: Path) -> None:
    import asyncio

    store = LocalStore(tmp_path / "k", batch_bytes=1 << 20)
    writer = store.writer("k", 0)
    await writer.write(b"x" * 1000)
    assert writer.written == 0  # buffered, not yet written
    writer.kick()
    for _ in range(100):
        if writer.written:
            break
        await asyncio.sleep(0.01)
    assert writer.written == 1000 and (tmp_path / "k" / "k").read_bytes() == b"x" * 1000
    await writer.write(b"y" * 10)
    assert await writer.flush() == 1010
    await writer.close()


async def test_local_make_durable_skips_only_a_file_its_writer_just_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tusportal.storage.local as local

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(local.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store = LocalStore(tmp_path / "d")
    writer = store.writer("f", 0)
    await writer.write(b"abc")
    await writer.flush(fsync=True)
    await writer.close()
    before = len(synced)
    await store.make_durable("f")
    assert len(synced) == before + 1  # only the directory: the writer synced the file
    writer = store.writer("f", 3)
    await writer.write(b"def")  # written without fsync
    await writer.close()
    before = len(synced)
    await store.make_durable("f")
    assert len(synced) == before + 2  # the file again, and the directory


async def test_local_writer_kicks_during_writes_keep_order_and_hashes(tmp_path: Path) -> None:
    """A heartbeat kicks the writer at any time while the body loop writes: every byte lands once,
    in order, and the running hash sees them in order."""
    import asyncio
    import hashlib

    store = LocalStore(tmp_path / "r", batch_bytes=64 * 1024)
    data = os.urandom(3 << 20)
    running = hashlib.sha256()
    writer = store.writer("r", 0, [running])
    stop = False

    async def heartbeat() -> None:
        while not stop:
            writer.kick()  # type: ignore[attr-defined]
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    for i in range(0, len(data), 7_001):
        await writer.write(data[i : i + 7_001])
        if i % 5 == 0:
            await asyncio.sleep(0)
    assert await writer.flush() == len(data)
    stop = True
    await beat
    await writer.close()
    assert (tmp_path / "r" / "r").read_bytes() == data
    assert running.digest() == hashlib.sha256(data).digest()
