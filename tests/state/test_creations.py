"""Group commit of new uploads (state/creations.py) on a real PostgreSQL: creations that arrive
together share a statement, each gets its own row back with its events in the outbox, and a row
that cannot be inserted fails only its own creation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from tusportal.state import outbox
from tusportal.state.outbox import NewEvent
from tusportal.state.uploads import UploadRepository


@pytest.fixture
async def uploads(postgres: Any) -> AsyncIterator[UploadRepository]:
    database = await postgres.migrated()
    outbox.use_publisher(None)
    yield UploadRepository(database, lease_seconds=5)
    await database.close()


async def create(
    uploads: UploadRepository, n: int, *, upload_id: str | None = None, finished: bool = True
) -> Any:
    upload_id = upload_id or f"up{n:04d}-" + "x" * 20
    return await uploads.insert(
        upload_id=upload_id,
        storage_key=upload_id,
        offset=100 + n if finished else n,
        length=100 + n,
        metadata_raw=f"filename {n}",
        metadata={"filename": f"f{n}.bin", "n": str(n)},
        expires_in=3600,
        finished=finished,
        storage_state={"n": n} if n % 2 else None,
        events=[
            NewEvent(type="tusportal.upload.created", subject=upload_id, data={"n": n}, upload_id=upload_id)
        ],
    )


async def test_concurrent_creations_share_statements_and_each_gets_its_own_row(
    uploads: UploadRepository,
) -> None:
    before = uploads.creations.statements
    made = await asyncio.gather(*(create(uploads, n, finished=n % 3 != 0) for n in range(40)))
    statements = uploads.creations.statements - before
    assert statements < 40 / 4, statements  # the first goes alone, the rest queue behind it
    for n, upload in enumerate(made):
        assert upload.id == f"up{n:04d}-" + "x" * 20
        assert upload.length == 100 + n and upload.metadata == {"filename": f"f{n}.bin", "n": str(n)}
        assert upload.metadata_raw == f"filename {n}"
        assert upload.storage_state == ({"n": n} if n % 2 else None)
        assert upload.state == ("finished" if n % 3 else "active")
        assert (upload.expires_at is None) == (n % 3 != 0)
        assert (upload.finished_at is not None) == (n % 3 != 0)
        assert await uploads.get(upload.id) == upload
    rows = await uploads.db.fetchall("SELECT subject, data->>'n' FROM events ORDER BY subject")
    assert rows == [(f"up{n:04d}-" + "x" * 20, str(n)) for n in range(40)]


async def test_a_lone_creation_goes_at_once_in_its_own_statement(uploads: UploadRepository) -> None:
    before = uploads.creations.statements
    upload = await create(uploads, 7)
    assert uploads.creations.statements == before + 1
    assert upload.finished


async def test_a_row_that_cannot_be_inserted_fails_only_its_own_creation(uploads: UploadRepository) -> None:
    taken = await create(uploads, 1)
    results = await asyncio.gather(
        *(create(uploads, n) for n in range(2, 10)),
        create(uploads, 99, upload_id=taken.id),  # the same id again: a unique violation
        *(create(uploads, n) for n in range(10, 20)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], psycopg.errors.UniqueViolation)
    assert len([r for r in results if not isinstance(r, BaseException)]) == 18
    count = await uploads.db.fetchone("SELECT count(*) FROM uploads")
    assert count == (19,)
    events = await uploads.db.fetchone("SELECT count(*) FROM events")
    assert events == (19,)  # the failed creation's event is not in the outbox either


async def test_a_cancelled_creation_does_not_cancel_the_others(uploads: UploadRepository) -> None:
    first = asyncio.ensure_future(create(uploads, 1))
    others = [asyncio.ensure_future(create(uploads, n)) for n in range(2, 6)]
    await asyncio.sleep(0)
    others[0].cancel()
    done = await asyncio.gather(first, *others[1:])
    assert [u.id[:6] for u in done] == ["up0001", "up0003", "up0004", "up0005"]
    assert (await uploads.db.fetchone("SELECT count(*) FROM uploads"))[0] in (4, 5)  # type: ignore[index]


async def test_creations_queued_behind_a_failed_statement_still_go(
    uploads: UploadRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = uploads.creations._execute
    calls = 0

    async def first_fails(batch: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.2)  # the others queue up behind this statement meanwhile
            raise RuntimeError("scripted")
        return await real(batch)

    monkeypatch.setattr(uploads.creations, "_execute", first_fails)
    first = asyncio.ensure_future(create(uploads, 0))
    await asyncio.sleep(0.05)
    assert calls == 1
    rest = await asyncio.gather(*(create(uploads, n) for n in range(1, 12)))
    with pytest.raises(RuntimeError, match="scripted"):
        await first
    assert [u.id[:6] for u in rest] == [f"up{n:04d}" for n in range(1, 12)]
    assert calls == 2  # the eleven queued ones went together
