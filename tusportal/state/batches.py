"""The batches table and the files in a batch. All batch SQL lives here.

Completion is decided inside the transaction that finishes a file (or seals the batch), after
locking the batch row: concurrent finishers of one batch are serialized on that lock, and each
re-reads the files with a fresh statement, so the last one to commit always sees every file
finished and the completion is recorded exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusportal.state.db import Database

_COLUMNS = (
    "id, name, state, expected_files, metadata, owner_id, created_at, sealed_at, completed_at, cancelled_at"
)

# a file of a batch: every upload in it except the partial uploads of a parallel upload
_FILE = "concat_kind IS DISTINCT FROM 'partial'"


@dataclass(frozen=True)
class Batch:
    id: str
    name: str
    state: str
    expected_files: int | None
    metadata: dict[str, Any]
    owner_id: str | None
    created_at: datetime
    sealed_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class BatchFile:
    id: str
    filename: str | None
    length: int | None
    offset: int
    state: str
    created_at: datetime
    finished_at: datetime | None


def _batch(row: tuple[Any, ...] | None) -> Batch | None:
    return Batch(*row) if row is not None else None


class BatchRepository:
    def __init__(self, db: Database):
        self.db = db

    async def create(
        self,
        batch_id: str,
        *,
        name: str,
        expected_files: int | None,
        metadata: dict[str, Any],
        owner_id: str | None,
    ) -> Batch:
        row = await self.db.fetchone(
            f"INSERT INTO batches (id, name, expected_files, metadata, owner_id)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (batch_id, name, expected_files, json.dumps(metadata), owner_id),
        )
        batch = _batch(row)
        assert batch is not None
        return batch

    async def get(self, batch_id: str, conn: Any = None) -> Batch | None:
        sql = f"SELECT {_COLUMNS} FROM batches WHERE id = %s"
        if conn is not None:
            cur = await conn.execute(sql, (batch_id,))
            return _batch(await cur.fetchone())
        return _batch(await self.db.fetchone(sql, (batch_id,)))

    async def list_batches(
        self, *, state: str | None = None, limit: int = 100, offset: int = 0, owner_id: str | None = None
    ) -> list[Batch]:
        """Newest first; with `owner_id`, only that owner's batches."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM batches WHERE (%(state)s::text IS NULL OR state = %(state)s)"
            " AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)"
            " ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s",
            {"state": state, "limit": limit, "offset": offset, "owner": owner_id},
        )
        return [b for b in map(_batch, rows) if b is not None]

    async def files(self, batch_id: str, conn: Any = None) -> list[BatchFile]:
        """The batch's files with their progress; a parallel upload counts as one file whose
        received bytes are the sum of its partial uploads' offsets until it is assembled."""
        sql = (
            "SELECT u.id, coalesce(u.metadata->>'filename', u.metadata->>'name'), u.upload_length,"
            " CASE WHEN u.concat_kind = 'final' AND u.state = 'active' THEN"
            "   (SELECT coalesce(sum(p.upload_offset), 0) FROM unnest(u.concat_parts) AS part(pid)"
            "    JOIN uploads p ON p.id = part.pid)::bigint"
            " ELSE u.upload_offset END,"
            " u.state, u.created_at, u.finished_at"
            f" FROM uploads u WHERE u.batch_id = %s AND u.{_FILE} ORDER BY u.created_at, u.id"
        )
        if conn is not None:
            cur = await conn.execute(sql, (batch_id,))
            rows = await cur.fetchall()
        else:
            rows = await self.db.fetchall(sql, (batch_id,))
        return [BatchFile(*row) for row in rows]

    async def lock(self, conn: Any, batch_id: str) -> Batch | None:
        """Lock the batch row for the rest of the caller's transaction."""
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM batches WHERE id = %s FOR UPDATE", (batch_id,))
        return _batch(await cur.fetchone())

    async def file_count(self, conn: Any, batch_id: str) -> int:
        cur = await conn.execute(
            f"SELECT count(*) FROM uploads WHERE batch_id = %s AND {_FILE}"
            " AND state IN ('active', 'finished')",
            (batch_id,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def complete_if_done(self, conn: Any, batch_id: str) -> Batch | None:
        """Mark the batch completed when it is closed for new files (sealed, or its expected count
        reached) and none of its files is still uploading. Returns the batch when this call
        completed it, None otherwise. The caller holds the batch lock."""
        cur = await conn.execute(
            "UPDATE batches b SET state = 'completed', completed_at = now()"
            " WHERE b.id = %(id)s AND b.state IN ('open', 'sealed')"
            " AND (b.state = 'sealed' OR (b.expected_files IS NOT NULL AND"
            f"   (SELECT count(*) FROM uploads u WHERE u.batch_id = b.id AND u.{_FILE}"
            "     AND u.state IN ('active', 'finished')) >= b.expected_files))"
            f" AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.batch_id = b.id AND u.{_FILE}"
            "   AND u.state = 'active')"
            f" RETURNING {_COLUMNS}",
            {"id": batch_id},
        )
        return _batch(await cur.fetchone())

    async def set_state(self, conn: Any, batch_id: str, state: str) -> Batch | None:
        stamp = {"sealed": "sealed_at", "cancelled": "cancelled_at"}[state]
        cur = await conn.execute(
            f"UPDATE batches SET state = %s, {stamp} = now() WHERE id = %s RETURNING {_COLUMNS}",
            (state, batch_id),
        )
        return _batch(await cur.fetchone())
