"""The two statements that commit without waiting for the WAL flush (lease acquisition, storing a
pending piece), counted in WAL syncs on a real PostgreSQL, beside a plain UPDATE that waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tusportal.state.db import Database
from tusportal.state.pieces import PostgresPieceStore
from tusportal.state.uploads import UploadRepository

N = 30


@pytest.fixture
async def db(postgres: Any) -> AsyncIterator[Database]:
    database = await postgres.migrated(max_size=1)  # one backend: its stats are the statements'
    yield database
    await database.close()


async def wal_syncs(db: Database, work: Callable[[], Awaitable[None]]) -> int:
    (version,) = await db.fetchone("SELECT current_setting('server_version_num')::int")  # type: ignore[misc]
    count = (
        "SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal'"  # PostgreSQL 18 on
        if version >= 180000
        else "SELECT wal_sync FROM pg_stat_wal"
    )
    await db.execute("SELECT pg_stat_force_next_flush()")
    (before,) = await db.fetchone(count)  # type: ignore[misc]
    await work()
    await db.execute("SELECT pg_stat_force_next_flush()")
    (after,) = await db.fetchone(count)  # type: ignore[misc]
    return int(after - before)


async def test_lease_and_piece_commits_do_not_wait_for_the_wal_flush(db: Database) -> None:
    uploads = UploadRepository(db, lease_seconds=30)
    pieces = PostgresPieceStore(db)
    ids = [f"async-commit-{i:03d}-" + "x" * 12 for i in range(N)]
    for upload_id in ids:
        await uploads.insert(
            upload_id=upload_id,
            storage_key=upload_id,
            offset=0,
            length=10,
            metadata_raw=None,
            metadata={},
            expires_in=3600,
            finished=False,
        )

    async def plain_updates() -> None:
        for upload_id in ids:
            await db.execute("UPDATE uploads SET updated_at = now() WHERE id = %s", (upload_id,))

    async def leases() -> None:
        for upload_id in ids:
            assert await uploads.acquire(upload_id, "t-" + upload_id) is not None

    async def stored_pieces() -> None:
        for upload_id in ids:
            await pieces.put(upload_id, "db:" + upload_id + "/0", b"p" * 1000)

    waiting = await wal_syncs(db, plain_updates)
    assert waiting >= N * 0.8, waiting  # the yardstick: each synchronous commit flushes the WAL
    assert await wal_syncs(db, leases) < N / 3
    assert await wal_syncs(db, stored_pieces) < N / 3
    assert await pieces.get(["db:" + ids[0] + "/0"]) == {"db:" + ids[0] + "/0": b"p" * 1000}
