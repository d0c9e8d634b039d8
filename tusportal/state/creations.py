"""Group commit of new uploads: creations that arrive together share one INSERT statement.

A small upload made by creation-with-upload costs one statement (the row and its outbox events).
With many clients at once, the Python side of a psycopg statement (about 250 us on the benchmark
machine) and PostgreSQL's work per statement and per commit take much of the time. So creations
that arrive while a statement runs wait for it, then go in the next statement together: the first
creation on a quiet server goes alone and at once, and no timer adds latency.

A statement is atomic. If one fails for anything but a lost database, its creations are retried
one statement each, so that a row that cannot be inserted (there should be none) fails only its
own request. Creations whose events need the broker in the same transaction, and creations inside
a caller's transaction (batches), do not come here.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Sequence
from typing import Any

import psycopg

from tusportal.errors import DatabaseUnavailable
from tusportal.state import outbox
from tusportal.state.db import Database
from tusportal.state.outbox import NewEvent

MAX_ROWS = 64  # rows in one statement

_NEW = (
    "id text, storage_key text, upload_offset bigint, upload_length bigint, metadata_raw text,"
    " metadata jsonb, finished boolean, expires_in float8, owner_id text, storage_state jsonb"
)


def statement(columns: str) -> str:
    """INSERT the rows of %(rows)s (a JSON array) with their events in %(outbox_rows)s, returning
    `columns` of every new row."""
    return (
        f"WITH new AS (SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r({_NEW})),"
        " changed AS (INSERT INTO uploads (id, storage_key, upload_offset, upload_length,"
        " metadata_raw, metadata, state, expires_at, finished_at, owner_id, storage_state)"
        " SELECT id, storage_key, upload_offset, upload_length, metadata_raw, metadata,"
        " CASE WHEN finished THEN 'finished' ELSE 'active' END,"
        " CASE WHEN finished THEN NULL ELSE now() + make_interval(secs => expires_in) END,"
        " CASE WHEN finished THEN now() END, owner_id, storage_state FROM new"
        f" RETURNING {columns}),"
        f" outbox AS ({outbox.OUTBOX_ROWS} WHERE EXISTS (SELECT 1 FROM changed))"
        " SELECT * FROM changed"
    )


class _Creation:
    __slots__ = ("events", "future", "row")

    def __init__(self, row: dict[str, Any], events: Sequence[NewEvent], future: asyncio.Future[Any]):
        self.row = row
        self.events = events
        self.future = future


class CreationBatcher:
    """`insert` a new upload's row (a dict with the keys of _NEW) and its events; returns the
    inserted row's `columns` as a tuple."""

    def __init__(self, db: Database, columns: str, *, max_rows: int = MAX_ROWS):
        self.db = db
        self.sql = statement(columns)
        self.max_rows = max_rows
        self._queue: list[_Creation] = []
        self._drainer: asyncio.Task[None] | None = None
        self.statements = 0  # statements run (tests and metrics)

    async def insert(self, row: dict[str, Any], events: Sequence[NewEvent]) -> tuple[Any, ...]:
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Creation(row, events, future))
        if self._drainer is None:
            # in a context of its own: the statements serve many requests, not the first one's
            loop = asyncio.get_running_loop()
            self._drainer = loop.create_task(self._drain(), context=contextvars.Context())
        # shielded: a cancelled request must not cancel the rows of the others
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_rows], self._queue[self.max_rows :]
                try:
                    await self._run(batch)
                except Exception as exc:  # a bug: those creations fail, the queue goes on
                    for item in batch:
                        _fail(item, exc)
        except BaseException as exc:  # cancelled (shutdown): nobody may wait forever
            queued, self._queue = self._queue, []
            for item in queued:
                _fail(item, exc)
            raise
        finally:
            self._drainer = None

    async def _run(self, batch: list[_Creation]) -> None:
        try:
            rows = await self._execute(batch)
        except DatabaseUnavailable as exc:
            for item in batch:
                _fail(item, exc)
            return
        except psycopg.Error as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for item in batch:  # one statement each: only a bad row fails
                await self._run([item])
            return
        except BaseException as exc:  # cancelled at shutdown, or a bug: nobody waits forever
            for item in batch:
                _fail(item, exc)
            raise
        by_id = {row[0]: row for row in rows}
        for item in batch:
            row = by_id.get(item.row["id"])
            if not item.future.done():
                if row is None:
                    item.future.set_exception(RuntimeError(f"upload {item.row['id']} was not inserted"))
                else:
                    item.future.set_result(row)

    async def _execute(self, batch: list[_Creation]) -> list[tuple[Any, ...]]:
        self.statements += 1
        events = [event for item in batch for event in outbox.row_dicts(item.events)]
        params = {
            "rows": json.dumps([item.row for item in batch], separators=(",", ":")),
            "outbox_rows": json.dumps(events, separators=(",", ":")),
        }
        return await self.db.fetchall(self.sql, params)


def _fail(item: _Creation, exc: BaseException) -> None:
    if item.future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        item.future.cancel()
    else:
        item.future.set_exception(exc)
