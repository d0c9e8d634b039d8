"""The S3 store on a real S3 server (SeaweedFS): parts and pending pieces, resuming from persisted
state on another instance, interrupted and crashed writers, and nothing left behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator

import pytest
from s3_support import append

from tusportal.state import migrations
from tusportal.state.db import Database
from tusportal.state.pieces import PostgresPieceStore
from tusportal.storage.base import StoreState
from tusportal.storage.s3 import S3Store
from tusportal.storage.s3.layout import Layout, Piece, part_prefix
from tusportal.storage.s3.sizing import MIB

PART = 5 * MIB


class Stores:
    """Makes stores on one bucket, as separate instances (own thread pool, own connections) would
    be, with their pending pieces in the bucket or in PostgreSQL (`pieces`)."""

    def __init__(self, s3_server, bucket: str, pieces: PostgresPieceStore | None):
        self.s3_server, self.bucket, self.pieces = s3_server, bucket, pieces
        self.stores: list[S3Store] = []

    def __call__(self, **overrides) -> S3Store:
        values = {"prefix": "up", "part_size": PART, "parts_in_flight": 2}
        values.update(overrides)
        store = S3Store(self.s3_server.config(self.bucket, **values), pieces=self.pieces)
        self.stores.append(store)
        return store

    async def everything(self) -> list[str]:
        """Every object in the bucket and every piece in PostgreSQL."""
        found = list(self.s3_server.objects(self.bucket))
        if self.pieces is not None:
            rows = await self.pieces.db.fetchall("SELECT name FROM pending_pieces")
            found += [r[0] for r in rows]
        return sorted(found)


@pytest.fixture(params=["bucket", "database"], ids=["pieces-in-bucket", "pieces-in-postgres"])
async def make_store(request, s3_server, s3_bucket, postgres) -> AsyncIterator[Stores]:
    db = None
    if request.param == "database":
        db = Database(postgres.new_database(), min_size=1, max_size=4)
        await db.open()
        async with db.connection() as conn:
            await migrations.apply(conn)
    stores = Stores(s3_server, s3_bucket, PostgresPieceStore(db) if db is not None else None)
    yield stores
    for store in stores.stores:
        store.close()
    if db is not None:
        await db.close()


async def read_all(store: S3Store, key: str, state: StoreState | None) -> bytes:
    size = await store.size(key, state)
    out = bytearray()
    async for chunk in store.read(key, 0, size - 1, state):
        out += chunk
    return bytes(out)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_many_small_patches_become_parts_in_the_background_and_leave_only_the_object(
    make_store, s3_server, s3_bucket
):
    """Scenario (b): each PATCH adds one piece and never waits for a part. Once the committed pieces
    hold a part, the next writer starts building it in the background; a later writer adopts it
    (the pieces move to retired, the part into parts) and the writer after that deletes them."""
    store = make_store()
    data = os.urandom(13 * MIB + 12345)
    state: StoreState | None = None
    offset = 0
    seen_parts = 0
    for i in range(0, len(data), MIB):
        written, state = await append(store, "b1", offset, data[i : i + MIB], state)
        offset += written
        assert state is not None and await store.size("b1", state) == offset
        pending = sum(p[2] for p in state.get("pending", []))
        parts = len(state.get("parts", []))
        assert parts >= seen_parts
        seen_parts = parts
        if pending >= PART:
            # the pieces hold a part: the multipart upload exists for the background part
            assert state.get("upload_id")
        await store._s3.background.wait("b1")  # the part finishes before the next PATCH here
    assert state is not None
    assert seen_parts >= 1, state  # parts were built from pieces and adopted
    state = await store.make_durable("b1", state)
    assert digest(await read_all(store, "b1", state)) == digest(data)
    assert await make_store.everything() == ["up/b1"]
    assert s3_server.multipart_uploads(s3_bucket) == []


async def test_one_big_body_streams_parts_and_range_reads(make_store, s3_server, s3_bucket):
    store = make_store(parts_in_flight=3)
    data = os.urandom(17 * MIB + 3)
    written, state = await append(store, "a1", 0, data, None, chunk=300_000)
    assert written == len(data)
    assert state is not None and [p[0] for p in state["parts"]] == [1, 2, 3]
    state = await store.make_durable("a1", state)
    out = bytearray()
    async for chunk in store.read("a1", PART - 10, PART + 10, state):
        out += chunk
    assert bytes(out) == data[PART - 10 : PART + 11]
    assert digest(await read_all(store, "a1", state)) == digest(data)
    assert s3_server.multipart_uploads(s3_bucket) == []


async def test_another_instance_resumes_from_the_persisted_state(make_store, s3_server, s3_bucket):
    """Alternating instances, each starting from the state the other one persisted."""
    a, b = make_store(), make_store()
    data = os.urandom(12 * MIB + 777)
    state: StoreState | None = None
    offset = 0
    sizes = [300_000, 4 * MIB, 1, 2 * MIB + 5, 3 * MIB, MIB]
    turn = 0
    while offset < len(data):
        store = (a, b)[turn % 2]
        n = sizes[turn % len(sizes)]
        written, state = await append(store, "r1", offset, data[offset : offset + n], state)
        offset += written
        turn += 1
    state = await b.make_durable("r1", state)
    assert digest(await read_all(a, "r1", state)) == digest(data)
    assert await make_store.everything() == ["up/r1"]


async def test_writer_interrupted_mid_part_then_resumed_elsewhere(make_store, s3_server, s3_bucket):
    """A PATCH stopped (cancelled, as a lock release request does) in the middle of a part: what
    S3 acknowledged is in the state, the rest is not counted, and another instance goes on."""
    a, b = make_store(parts_in_flight=1), make_store()
    data = os.urandom(14 * MIB)
    writer = a.writer("i1", 0, None, None)
    received = 0
    stalled = asyncio.Event()

    async def pump() -> None:
        nonlocal received
        for i in range(0, len(data), 64 * 1024):
            await writer.write(data[i : i + 64 * 1024])
            received = i + 64 * 1024
            if received >= 2 * PART + MIB:
                stalled.set()
                await asyncio.sleep(30)  # the client stalls mid-part

    task = asyncio.create_task(pump())
    await asyncio.wait_for(stalled.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    written = await writer.flush()
    await writer.close()
    state = writer.state
    assert written == received  # the buffered tail became a piece
    assert await a.size("i1", state) == written
    # the other instance resumes exactly there
    more, state = await append(b, "i1", written, data[written:], state)
    assert written + more == len(data)
    state = await b.make_durable("i1", state)
    assert digest(await read_all(b, "i1", state)) == digest(data)
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert await make_store.everything() == ["up/i1"]


async def test_crashed_writer_leaves_garbage_that_is_never_counted(make_store, s3_server, s3_bucket):
    """A writer whose state was never persisted (its process died): its parts and pieces are not in
    the committed state, a new writer continues from that state, completion removes the leftovers."""
    a, b = make_store(), make_store()
    data = os.urandom(11 * MIB)
    committed_offset, committed = await append(a, "c1", 0, data[: 3 * MIB], None)
    # the crashed PATCH: uploads a part and a piece, but nobody persists its state
    lost, _ = await append(a, "c1", committed_offset, os.urandom(6 * MIB), committed)
    assert lost == 6 * MIB
    assert len(await make_store.everything()) > 1
    assert await b.size("c1", committed) == committed_offset
    _, state = await append(b, "c1", committed_offset, data[committed_offset:], committed)
    state = await b.make_durable("c1", state)
    assert digest(await read_all(b, "c1", state)) == digest(data)
    assert await make_store.everything() == ["up/c1"]
    assert s3_server.multipart_uploads(s3_bucket) == []


async def test_rejected_chunk_is_truncated_back_to_where_the_patch_started(make_store):
    """A checksum mismatch after the chunk filled a part (with earlier pieces): truncate brings
    back exactly the committed bytes, the next PATCH writes the right ones."""
    store = make_store()
    good = os.urandom(9 * MIB)
    offset, state = await append(store, "t1", 0, good[: 2 * MIB], None)
    offset2, state2 = await append(store, "t1", offset, good[offset : 3 * MIB], state)
    committed, committed_state = offset + offset2, state2
    bad = os.urandom(4 * MIB)
    _, rejected = await append(store, "t1", committed, bad, committed_state)
    assert await store.size("t1", rejected) == committed + len(bad)
    restored = await store.truncate("t1", committed, rejected)
    assert await store.size("t1", restored) == committed
    _, state = await append(store, "t1", committed, good[committed:], restored)
    state = await store.make_durable("t1", state)
    assert digest(await read_all(store, "t1", state)) == digest(good)


async def test_truncate_inside_pending_pieces(make_store):
    store = make_store()
    data = os.urandom(3 * MIB)
    _, state = await append(store, "t2", 0, data[:MIB], None)
    _, state = await append(store, "t2", MIB, data[MIB : 2 * MIB], state)
    state = await store.truncate("t2", MIB + 10, state)
    assert await store.size("t2", state) == MIB + 10
    _, state = await append(store, "t2", MIB + 10, data[MIB + 10 :], state)
    state = await store.make_durable("t2", state)
    assert await read_all(store, "t2", state) == data


async def test_many_tiny_patches_merge_pieces(make_store, s3_server, s3_bucket):
    store = make_store(max_pieces=3)
    data = os.urandom(40_000)
    state: StoreState | None = None
    for i in range(0, len(data), 4000):
        _, state = await append(store, "m1", i, data[i : i + 4000], state)
        assert state is not None and len(state["pending"]) <= 3
    state = await store.make_durable("m1", state)
    assert await read_all(store, "m1", state) == data
    assert await make_store.everything() == ["up/m1"]


async def test_delete_removes_parts_pieces_and_leftovers(make_store, s3_server, s3_bucket):
    """Termination and expiry: no object, no piece, no in-progress multipart upload remains,
    including what a crashed writer left."""
    store = make_store()
    _, state = await append(store, "d1", 0, os.urandom(7 * MIB), None)
    await append(store, "d1", 7 * MIB, os.urandom(6 * MIB), state)  # a crashed writer's garbage
    assert s3_server.multipart_uploads(s3_bucket)
    assert await make_store.everything()
    await store.delete("d1", state)
    assert await make_store.everything() == []
    assert s3_server.multipart_uploads(s3_bucket) == []
    await store.delete("d1", state)  # idempotent


async def test_delete_of_a_completed_upload(make_store, s3_server, s3_bucket):
    store = make_store()
    _, state = await append(store, "d2", 0, os.urandom(MIB), None)
    state = await store.make_durable("d2", state)
    await store.delete("d2", state)
    assert await make_store.everything() == []


async def test_known_length_writes_the_object_directly_with_its_content_type(
    make_store, s3_server, s3_bucket
):
    """With describe(): a small upload's last bytes are the object itself; a big one's last bytes
    are its last part. No copy at completion."""
    store = make_store()
    small = os.urandom(70_000)
    state = store.describe("k1", None, length=len(small), content_type="image/png")
    _, state = await append(store, "k1", 0, small, state)
    assert state is not None and state.get("direct")
    assert await make_store.everything() == ["up/k1"]
    state = await store.make_durable("k1", state)
    assert await read_all(store, "k1", state) == small
    stat = s3_server.minio().stat_object(s3_bucket, "up/k1")
    assert stat.content_type == "image/png"

    big = os.urandom(6 * MIB + 1)
    state = store.describe("k2", None, length=len(big), content_type="video/mp4")
    _, state = await append(store, "k2", 0, big[: 2 * MIB], state)
    _, state = await append(store, "k2", 2 * MIB, big[2 * MIB :], state)
    assert state is not None and len(state["parts"]) == 2 and not state.get("pending")
    state = await store.make_durable("k2", state)
    assert digest(await read_all(store, "k2", state)) == digest(big)
    assert s3_server.minio().stat_object(s3_bucket, "up/k2").content_type == "video/mp4"
    assert sorted(await make_store.everything()) == ["up/k1", "up/k2"]


async def test_empty_upload(make_store, s3_server, s3_bucket):
    store = make_store()
    state = await store.create("e1")
    state = await store.make_durable("e1", state)
    assert await store.size("e1", state) == 0
    assert await make_store.everything() == ["up/e1"]


async def test_states_stay_small_and_json(make_store):
    import json

    store = make_store()
    _, state = await append(store, "j1", 0, os.urandom(11 * MIB), None)
    text = json.dumps(state)
    assert len(text) < 1000
    assert json.loads(text) == state


async def test_a_part_built_in_the_background_and_the_same_part_cut_elsewhere_agree(
    make_store, s3_server, s3_bucket
):
    """Instance a builds part 1 from the committed pieces in the background; instance b, given
    the same committed state, completes the upload and cuts part 1 itself, from the same pieces by
    the same rule. Whichever upload of part 1 S3 keeps has the same bytes and etag: the completion
    holds, and a's late result no longer fits and is dropped."""
    a, b = make_store(), make_store()
    data = os.urandom(7 * MIB + 5)
    state: StoreState | None = a.describe("r1", None, length=len(data))
    offset = 0
    for _ in range(5):  # five 1 MiB pieces: a part's worth (5 MiB); the multipart upload is made
        written, state = await append(a, "r1", offset, data[offset : offset + MIB], state)
        offset += written
    assert state is not None and state.get("upload_id") and "parts" not in state
    written, state = await append(a, "r1", offset, data[offset : offset + MIB], state)  # starts part 1
    offset += written
    assert a._s3.background.running("r1") or a._s3.background._tasks.get("r1") is not None
    written, state = await append(b, "r1", offset, data[offset:], state)  # the last bytes, on b
    assert written == len(data) - offset and state is not None
    assert [p[0] for p in state["parts"]] == [1, 2]
    await a._s3.background.wait("r1")  # a's part 1 lands after b's, with the same bytes
    state = await b.make_durable("r1", state)
    assert digest(await read_all(b, "r1", state)) == digest(data)
    assert not a._s3.background.adopt_into("r1", Layout.from_state(state, "up/r1"))
    assert await make_store.everything() == ["up/r1"]
    assert s3_server.multipart_uploads(s3_bucket) == []


def test_part_prefix_is_the_fewest_pieces_that_hold_a_part() -> None:
    pieces = [Piece(f"p{i}", i * MIB, MIB) for i in range(7)]
    assert part_prefix(pieces[:4], 5 * MIB) == 0
    assert part_prefix(pieces, 5 * MIB) == 5
    assert part_prefix([Piece("big", 0, 9 * MIB), *pieces], 5 * MIB) == 1
    assert part_prefix([], 5 * MIB) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_patches_on_two_instances_with_background_parts(make_store, s3_server, s3_bucket, seed):
    """PATCHes of random sizes (short ones become pieces, long ones cut parts while they stream)
    on two instances at random, each starting from the state the last one committed, while
    background parts are under way or finished on either: the object is whole and nothing is
    left over."""
    rng = random.Random(seed)
    stores = [make_store(), make_store()]
    data = os.urandom(23 * MIB + rng.randrange(MIB))
    key = f"rand{seed}"
    state: StoreState | None = stores[0].describe(key, None, length=len(data))
    offset = 0
    while offset < len(data):
        size = min(len(data) - offset, rng.choice([rng.randrange(1, MIB), MIB, 2 * MIB + 3, 7 * MIB]))
        store = rng.choice(stores)
        written, state = await append(store, key, offset, data[offset : offset + size], state)
        assert written == size
        offset += size
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() * 0.05)  # background parts finish, or not
    assert state is not None
    state = await rng.choice(stores).make_durable(key, state)
    assert digest(await read_all(stores[0], key, state)) == digest(data)
    for store in stores:
        await store._s3.background.wait(key)
    assert await make_store.everything() == [f"up/{key}"]
    assert s3_server.multipart_uploads(s3_bucket) == []
