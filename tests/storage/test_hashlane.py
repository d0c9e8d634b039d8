"""The hash lane: a writer's running hashes fed on a thread, in order, with bounded backlog."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tusportal.storage.hashlane import HashLane
from tusportal.storage.local import LocalStore


class Gate:
    """A hasher that blocks until opened and records what it saw."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.seen: list[bytes] = []

    def update(self, data: bytes, /) -> None:
        self.open.wait(10)
        self.seen.append(bytes(data))


class Broken:
    def update(self, data: bytes, /) -> None:
        raise ValueError("hasher failed")


@pytest.fixture
def executor():
    with ThreadPoolExecutor(4) as pool:
        yield pool


async def test_batches_are_hashed_in_the_order_fed(executor):
    rng = random.Random(7)
    running = hashlib.sha256()
    lane = HashLane([running], executor, limit=1 << 20)
    expected = hashlib.sha256()
    for _ in range(300):
        bufs = [os.urandom(rng.randint(1, 70_000)) for _ in range(rng.randint(1, 4))]
        for b in bufs:
            expected.update(b)
        lane.feed(bufs, sum(map(len, bufs)))
        if rng.random() < 0.3:
            await lane.room()
    await lane.drained()
    assert lane.waiting == 0
    assert running.hexdigest() == expected.hexdigest()


async def test_room_waits_while_more_than_the_limit_waits_for_the_hash(executor):
    gate = Gate()
    lane = HashLane([gate], executor, limit=100)
    for i in range(3):
        lane.feed([bytes([i]) * 80], 80)
    room = asyncio.ensure_future(lane.room())
    drained = asyncio.ensure_future(lane.drained())
    await asyncio.sleep(0.2)
    assert not room.done() and not drained.done()  # 240 bytes wait, more than the limit
    gate.open.set()
    await asyncio.wait_for(asyncio.gather(room, drained), 5)
    assert gate.seen == [b"\x00" * 80, b"\x01" * 80, b"\x02" * 80]


async def test_a_cancelled_wait_leaves_the_lane_usable(executor):
    gate = Gate()
    lane = HashLane([gate], executor, limit=0)
    lane.feed([b"x" * 10], 10)
    waiter = asyncio.ensure_future(lane.drained())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.open.set()
    await asyncio.wait_for(lane.drained(), 5)
    assert gate.seen == [b"x" * 10]


async def test_a_hasher_error_reaches_the_writer(executor):
    lane = HashLane([Broken()], executor, limit=0)
    lane.feed([b"abc"], 3)
    with pytest.raises(ValueError, match="hasher failed"):
        await asyncio.wait_for(lane.drained(), 5)


async def test_local_writer_hashes_a_long_body_in_order_and_waits_for_it(tmp_path: Path):
    """Big batches go through the lane, a small remainder is fed after them; once flush returns,
    the running hash covers every byte and nothing is hashed any more."""
    store = LocalStore(tmp_path, batch_bytes=1 << 20, io_threads=4)
    try:
        data = os.urandom(9 * (1 << 20) + 12_345)
        running = hashlib.sha256()
        writer = store.writer("k", 0, [running])
        view = memoryview(data)
        for start in range(0, len(data), 65_536):
            await writer.write(bytes(view[start : start + 65_536]))
        written = await writer.flush(fsync=True)
        digest = running.copy().hexdigest()
        await asyncio.sleep(0.05)
        assert running.hexdigest() == digest == hashlib.sha256(data).hexdigest()
        await writer.close()
        assert written == len(data)
        assert (tmp_path / "k").read_bytes() == data
    finally:
        store.close()
