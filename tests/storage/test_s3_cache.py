"""The S3 store's piece cache and off-loop hashing: pure invariants of the cache, and on a real S3
server, that a part made of pieces this instance stored is built without fetching them back while
another instance (an empty cache) still builds it from the bucket; the running hashes see every
byte, in order, across parts, pieces and writers."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tusportal import metrics
from tusportal.storage.base import StoreState
from tusportal.storage.s3 import S3Store
from tusportal.storage.s3.cache import PieceCache
from tusportal.storage.s3.sizing import MIB


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60), st.integers(0, 100))
def test_cache_stays_within_capacity_and_returns_what_was_put(items: list[tuple[int, int]], cap: int) -> None:
    cache = PieceCache(cap)
    for n, size in items:
        name, data = f"p{n}", bytes([n]) * n  # a piece's name fixes its bytes (names are unique)
        cache.put(name, data)
        assert cache.size <= cap
        got = cache.get(name, size)
        assert got is None or (size <= n and got == data[:size])


def test_cache_evicts_oldest_first_and_serves_a_truncated_piece() -> None:
    cache = PieceCache(10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    cache.put("c", b"cccc")  # over 10 bytes: "a" goes
    assert cache.get("a", 4) is None
    assert cache.get("b", 2) == b"bb"  # a truncate cut the piece short
    assert cache.get("c", 5) is None  # never more than the piece holds
    cache.discard(["b", "x"])
    assert cache.get("b", 4) is None and cache.size == 4
    cache.put("huge", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get("huge", 11) is None


def gets() -> float:
    """GetObject requests made so far by this process (the store's request metric)."""
    samples = metrics.S3_REQUEST_SECONDS.collect()[0].samples
    return sum(
        s.value for s in samples if s.name.endswith("_count") and s.labels.get("operation") == "get_object"
    )


async def append(
    store: S3Store, key: str, offset: int, data: bytes, state: StoreState | None, hashers: list
) -> StoreState | None:
    writer = store.writer(key, offset, hashers, state)
    try:
        for i in range(0, len(data), 100_000):
            await writer.write(data[i : i + 100_000])
        assert await writer.flush() == len(data)
    finally:
        await writer.close()
    return writer.state


@pytest.mark.parametrize("same_instance", [True, False], ids=["cached", "other-instance"])
async def test_pieces_join_a_part_from_the_cache_or_from_the_bucket(
    make_s3_store, same_instance: bool
) -> None:
    first = make_s3_store()
    data = os.urandom(6 * MIB + 11)
    running = hashlib.sha256()
    state: StoreState | None = None
    for i in range(0, 4 * MIB, MIB):  # four 1 MiB PATCHes: four pieces
        state = await append(first, "c1", i, data[i : i + MIB], state, [running])
    assert state is not None and len(state["pending"]) == 4
    second = first if same_instance else make_s3_store()
    before = gets()
    state = await append(second, "c1", 4 * MIB, data[4 * MIB :], state, [running])
    # a short body is kept as a piece too; the pieces now hold a part, the multipart upload is made
    assert state is not None and len(state["pending"]) == 5 and state.get("upload_id")
    state = await second.make_durable("c1", state)  # the pieces are joined into the parts
    fetched = gets() - before
    assert fetched == (0 if same_instance else 4)
    assert running.digest() == hashlib.sha256(data).digest()
    out = bytearray()
    async for chunk in second.read("c1", 0, len(data) - 1, state):
        out += chunk
    assert bytes(out) == data


async def test_hashers_see_every_byte_in_order_across_many_batches(make_s3_store) -> None:
    store = make_s3_store()
    data = os.urandom(17 * MIB + 5)
    running, checksum = hashlib.sha256(), hashlib.sha1()
    writer = store.writer("h1", 0, [running, checksum], None)
    for i in range(0, len(data), 64 * 1024 + 3):
        await writer.write(data[i : i + 64 * 1024 + 3])
    assert await writer.flush() == len(data)  # flush returns once the hashers are done too
    assert running.digest() == hashlib.sha256(data).digest()
    assert checksum.digest() == hashlib.sha1(data).digest()
    await writer.close()
