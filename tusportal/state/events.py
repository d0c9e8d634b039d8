"""The outbox read side: the pull feed, what the dispatcher loads, and what the sweeper finds.

Feed order and cursor. Rows are ordered by (txid, seq): the id of the transaction that wrote them,
then their sequence number inside it. A read only returns rows whose transaction is older than
every transaction still running (`pg_snapshot_xmin`), so all of them are final: any row that commits
later belongs to a running or future transaction and sorts after them. A reader that resumes from
its cursor therefore never skips an event. The cursor is 32 hex digits (txid, then seq, 16 each) so
cursors also compare as strings; "0" means the beginning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from tusportal.state.db import Database

START = "0"


class InvalidCursor(ValueError):
    pass


def parse_cursor(cursor: str) -> tuple[int, int]:
    if cursor in ("", START):
        return 0, 0
    if len(cursor) != 32:
        raise InvalidCursor("cursor must be 0 or 32 hex digits")
    try:
        return int(cursor[:16], 16), int(cursor[16:], 16)
    except ValueError:
        raise InvalidCursor("cursor must be 0 or 32 hex digits") from None


def format_cursor(txid: int, seq: int) -> str:
    return f"{txid:016x}{seq:016x}"


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]
    cursor: str


_EVENT = "id::text, type, subject, time, data, txid::text::bigint, seq"


def _event(row: tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(row[0], row[1], row[2], row[3], row[4], format_cursor(row[5], row[6]))


class EventRepository:
    def __init__(self, db: Database):
        self.db = db

    async def feed(
        self,
        after: str,
        *,
        limit: int = 100,
        types: list[str] | None = None,
        batch_id: str | None = None,
        owner_id: str | None = None,
    ) -> list[StoredEvent]:
        """Events after the cursor, in order, up to `limit`; only final rows (see module doc)."""
        txid, seq = parse_cursor(after)
        filters = ""
        params: list[Any] = [str(txid), seq]
        if types:
            filters += " AND type = ANY(%s)"
            params.append(types)
        if batch_id is not None:
            filters += " AND batch_id = %s"
            params.append(batch_id)
        if owner_id is not None:
            filters += " AND owner_id = %s"
            params.append(owner_id)
        params.append(limit)
        rows = await self.db.fetchall(
            f"SELECT {_EVENT} FROM events"
            " WHERE (txid, seq) > (%s::xid8, %s) AND txid < pg_snapshot_xmin(pg_current_snapshot())"
            f"{filters} ORDER BY txid, seq LIMIT %s",
            params,
        )
        return [_event(r) for r in rows]

    async def get(self, event_id: str) -> StoredEvent | None:
        row = await self.db.fetchone(f"SELECT {_EVENT} FROM events WHERE id = %s::uuid", (event_id,))
        return _event(row) if row else None

    async def committed(self, ids: list[str]) -> list[str]:
        """Which of these events are committed (visible) now."""
        rows = await self.db.fetchall("SELECT id::text FROM events WHERE id = ANY(%s::uuid[])", (ids,))
        return [r[0] for r in rows]

    async def take_undispatched(
        self, conn: psycopg.AsyncConnection[Any], older_than: float, limit: int = 500
    ) -> tuple[list[str], int]:
        """In the caller's transaction: events nobody dispatched `older_than` seconds after they
        were recorded (or last re-sent). Those no enabled subscription wants are marked dispatched
        here and now; the others are marked re-sent and returned, to be dispatched again. Also
        returns how many rows were looked at (`limit` means: there may be more)."""
        cur = await conn.execute(
            "WITH due AS ("
            "  SELECT id, type FROM events WHERE dispatched_at IS NULL"
            "  AND coalesce(published_at, time) < now() - make_interval(secs => %s)"
            "  ORDER BY time LIMIT %s FOR UPDATE SKIP LOCKED"
            "), wanted AS ("
            "  SELECT due.id, EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.enabled"
            "    AND (due.type = ANY(s.event_types) OR '*' = ANY(s.event_types))) AS wanted FROM due"
            "), marked AS ("
            "  UPDATE events e SET"
            "  dispatched_at = CASE WHEN w.wanted THEN NULL ELSE now() END,"
            "  published_at = CASE WHEN w.wanted THEN now() ELSE e.published_at END"
            "  FROM wanted w WHERE e.id = w.id RETURNING e.id, w.wanted"
            ") SELECT id::text, wanted FROM marked",
            (older_than, limit),
        )
        rows = await cur.fetchall()
        return [r[0] for r in rows if r[1]], len(rows)

    async def stats(self) -> dict[str, int]:
        row = await self.db.fetchone(
            "SELECT count(*), count(*) FILTER (WHERE dispatched_at IS NULL) FROM events"
        )
        assert row is not None
        return {"events": int(row[0]), "undispatched": int(row[1])}
