"""The uploads table: records, the lease lock, and offset commits. All upload SQL lives here.

Lease protocol: a request that changes an upload takes the lease (`lock_token`, `lock_expires_at`)
with one UPDATE that also returns the row. Every write that follows names the token, so a holder whose
lease expired (and was taken over) can no longer move the offset. `release` commits the final offset
and drops the lease in one statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusportal.state import outbox
from tusportal.state.creations import CreationBatcher
from tusportal.state.db import RELAXED_COMMIT, Database, translate_errors
from tusportal.state.outbox import NewEvent

_COLUMNS = (
    "id, state, upload_offset, upload_length, metadata_raw, metadata, concat_kind, concat_parts,"
    " owner_id, batch_id, storage_key, storage_state, created_at, expires_at, finished_at,"
    " lock_token IS NOT NULL AND lock_expires_at > now() AS locked,"
    " expires_at IS NOT NULL AND expires_at <= now() AS expired"
)


@dataclass(frozen=True)
class Upload:
    id: str
    state: str
    offset: int
    length: int | None
    metadata_raw: str | None
    metadata: dict[str, Any]
    concat_kind: str | None
    concat_parts: list[str] | None
    owner_id: str | None
    batch_id: str | None
    storage_key: str
    storage_state: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime | None
    finished_at: datetime | None
    locked: bool
    expired: bool

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length


def _json(value: dict[str, Any] | None) -> str | None:
    return json.dumps(value) if value is not None else None


def _row(row: tuple[Any, ...] | None) -> Upload | None:
    if row is None:
        return None
    values = list(row)
    return Upload(*values)


class UploadRepository:
    def __init__(self, db: Database, *, lease_seconds: float):
        self.db = db
        self.lease = lease_seconds
        self.creations = CreationBatcher(db, _COLUMNS)

    async def _write(
        self, sql: str, params: Any, events: Sequence[NewEvent], conn: Any = None
    ) -> tuple[Any, ...] | None:
        """One statement; with events, the statement and its outbox rows commit together.
        With `conn`, both run inside the caller's transaction."""
        if conn is not None:
            cur = await conn.execute(sql, params)
            row = await cur.fetchone()
            if row is not None and events:
                await outbox.add_events(conn, events)
            return row
        if not events:
            return await self.db.fetchone(sql, params)
        if isinstance(params, dict):
            single = outbox.single_statement(sql, params, events)
            if single is not None:
                return await self.db.fetchone(*single)
        with translate_errors():
            async with self.db.pool.connection() as conn, conn.transaction():
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
                if row is not None:
                    await outbox.add_events(conn, events)
                return row

    async def insert(
        self,
        *,
        upload_id: str,
        storage_key: str,
        offset: int,
        length: int | None,
        metadata_raw: str | None,
        metadata: dict[str, Any],
        expires_in: float,
        finished: bool,
        concat_kind: str | None = None,
        concat_parts: list[str] | None = None,
        owner_id: str | None = None,
        batch_id: str | None = None,
        storage_state: dict[str, Any] | None = None,
        events: Sequence[NewEvent] = (),
        conn: Any = None,
    ) -> Upload:
        plain = conn is None and concat_kind is None and batch_id is None
        if plain and not outbox.needs_publisher(events):
            # the common case, a plain new upload: concurrent creations share one statement
            new = {
                "id": upload_id,
                "storage_key": storage_key,
                "upload_offset": offset,
                "upload_length": length,
                "metadata_raw": metadata_raw,
                "metadata": metadata,
                "finished": finished,
                "expires_in": expires_in,
                "owner_id": owner_id,
                "storage_state": storage_state,
            }
            created = _row(await self.creations.insert(new, events))
            assert created is not None
            return created
        row = await self._write(
            "INSERT INTO uploads (id, storage_key, upload_offset, upload_length, metadata_raw,"
            " metadata, state, expires_at, finished_at, concat_kind, concat_parts, owner_id, batch_id,"
            " storage_state)"
            " VALUES (%(id)s, %(key)s, %(offset)s, %(length)s, %(raw)s, %(meta)s,"
            " CASE WHEN %(finished)s THEN 'finished' ELSE 'active' END,"
            " CASE WHEN %(finished)s THEN NULL ELSE now() + make_interval(secs => %(exp)s) END,"
            " CASE WHEN %(finished)s THEN now() END, %(ck)s, %(cp)s, %(owner)s, %(batch)s, %(ss)s)"
            f" RETURNING {_COLUMNS}",
            {
                "id": upload_id,
                "key": storage_key,
                "offset": offset,
                "length": length,
                "raw": metadata_raw,
                "meta": json.dumps(metadata),
                "finished": finished,
                "exp": expires_in,
                "ck": concat_kind,
                "cp": concat_parts,
                "owner": owner_id,
                "batch": batch_id,
                "ss": _json(storage_state),
            },
            events,
            conn,
        )
        upload = _row(row)
        assert upload is not None
        return upload

    async def get(self, upload_id: str) -> Upload | None:
        return _row(await self.db.fetchone(f"SELECT {_COLUMNS} FROM uploads WHERE id = %s", (upload_id,)))

    async def acquire(self, upload_id: str, token: str) -> Upload | None:
        """Take the lease if it is free or expired; None when held by someone else or missing.

        Committed without waiting for the WAL flush: a lease lost in a database crash is a lease
        that lapsed, which the protocol already survives (every later write names the token), and
        each PATCH saves a WAL flush."""
        return _row(
            await self.db.fetchone(
                RELAXED_COMMIT + "UPDATE uploads SET lock_token = %(token)s,"
                " lock_expires_at = now() + make_interval(secs => %(lease)s)"
                " FROM relaxed"
                " WHERE id = %(id)s AND (lock_token IS NULL OR lock_expires_at <= now())"
                f" RETURNING {_COLUMNS}",
                {"id": upload_id, "token": token, "lease": self.lease},
            )
        )

    async def renew(self, tokens: list[str]) -> int:
        if not tokens:
            return 0
        return await self.db.execute(
            "UPDATE uploads SET lock_expires_at = now() + make_interval(secs => %s)"
            " WHERE lock_token = ANY(%s)",
            (self.lease, tokens),
        )

    async def checkpoint(
        self,
        upload_id: str,
        token: str,
        offset: int,
        expires_in: float,
        storage_state: dict[str, Any] | None = None,
    ) -> bool:
        """Commit progress of a long PATCH while keeping the lease. Only ever moves the offset
        forward, so checkpoints taken concurrently (by the body loop and the heartbeat) cannot
        step it back."""
        count = await self.db.execute(
            "UPDATE uploads SET upload_offset = %s, updated_at = now(),"
            " expires_at = now() + make_interval(secs => %s),"
            " storage_state = coalesce(%s::jsonb, storage_state)"
            " WHERE id = %s AND lock_token = %s AND state = 'active' AND upload_offset < %s",
            (offset, expires_in, _json(storage_state), upload_id, token, offset),
        )
        return count == 1

    async def release(
        self,
        upload_id: str,
        token: str,
        *,
        offset: int | None = None,
        length: int | None = None,
        finished: bool = False,
        expires_in: float | None = None,
        storage_state: dict[str, Any] | None = None,
        events: Sequence[NewEvent] = (),
        conn: Any = None,
    ) -> Upload | None:
        """Drop the lease, committing the new offset (and length, completion) in the same statement.

        Returns None when the lease was lost (another holder took over after expiry).
        """
        return _row(
            await self._write(
                "UPDATE uploads SET lock_token = NULL, lock_expires_at = NULL,"
                " upload_offset = coalesce(%(offset)s, upload_offset),"
                " upload_length = coalesce(upload_length, %(length)s),"
                " storage_state = coalesce(%(ss)s::jsonb, storage_state),"
                " updated_at = CASE WHEN %(offset)s IS NULL THEN updated_at ELSE now() END,"
                " state = CASE WHEN %(finished)s THEN 'finished' ELSE state END,"
                " finished_at = CASE WHEN %(finished)s THEN now() ELSE finished_at END,"
                " expires_at = CASE WHEN %(finished)s THEN NULL"
                "   WHEN %(exp)s::float8 IS NULL THEN expires_at"
                "   ELSE now() + make_interval(secs => %(exp)s) END"
                " WHERE id = %(id)s AND lock_token = %(token)s"
                f" RETURNING {_COLUMNS}",
                {
                    "id": upload_id,
                    "token": token,
                    "offset": offset,
                    "length": length,
                    "finished": finished,
                    "exp": expires_in,
                    "ss": _json(storage_state),
                },
                events,
                conn,
            )
        )

    async def get_many(self, ids: list[str]) -> dict[str, Upload]:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM uploads WHERE id = ANY(%s)", (ids,))
        return {u.id: u for u in map(_row, rows) if u is not None}

    async def finals_waiting_on(self, partial_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT id FROM uploads WHERE concat_kind = 'final' AND state = 'active'"
            " AND concat_parts @> ARRAY[%s]",
            (partial_id,),
        )
        return [r[0] for r in rows]

    async def finals_ready(self, limit: int = 100) -> list[str]:
        """Active finals whose partial uploads are all finished: an assembly that a crash cut short."""
        rows = await self.db.fetchall(
            "SELECT f.id FROM uploads f WHERE f.concat_kind = 'final' AND f.state = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM unnest(f.concat_parts) AS part(pid)"
            "   LEFT JOIN uploads p ON p.id = part.pid WHERE p.state IS DISTINCT FROM 'finished')"
            " LIMIT %s",
            (limit,),
        )
        return [r[0] for r in rows]

    async def partials_done_with(self, limit: int = 500) -> list[Upload]:
        """Finished partial uploads that no unfinished final still needs: their bytes can go."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM uploads p WHERE p.concat_kind = 'partial' AND p.state = 'finished'"
            " AND EXISTS (SELECT 1 FROM uploads f WHERE f.concat_kind = 'final'"
            "   AND f.concat_parts @> ARRAY[p.id])"
            " AND NOT EXISTS (SELECT 1 FROM uploads f WHERE f.concat_kind = 'final'"
            "   AND f.state = 'active' AND f.concat_parts @> ARRAY[p.id])"
            " LIMIT %s",
            (limit,),
        )
        return [u for u in map(_row, rows) if u is not None]

    async def mark_consumed(self, upload_id: str) -> bool:
        """A partial upload whose bytes now live in its final(s) is removed from view."""
        count = await self.db.execute(
            "UPDATE uploads SET state = 'terminated', updated_at = now()"
            " WHERE id = %s AND concat_kind = 'partial' AND state = 'finished'",
            (upload_id,),
        )
        return count == 1

    async def lower_offset(
        self, upload_id: str, offset: int, storage_state: dict[str, Any] | None = None
    ) -> None:
        """Storage holds fewer bytes than committed (lost after a power cut): believe storage."""
        await self.db.execute(
            "UPDATE uploads SET upload_offset = %s, updated_at = now(),"
            " storage_state = coalesce(%s::jsonb, storage_state)"
            " WHERE id = %s AND upload_offset > %s AND state = 'active'",
            (offset, _json(storage_state), upload_id, offset),
        )

    async def mark_terminated(
        self, upload_id: str, token: str, events: Sequence[NewEvent] = (), conn: Any = None
    ) -> bool:
        row = await self._write(
            "UPDATE uploads SET state = 'terminated', lock_token = NULL, lock_expires_at = NULL,"
            " expires_at = NULL, updated_at = now() WHERE id = %s AND lock_token = %s RETURNING id",
            (upload_id, token),
            events,
            conn,
        )
        return row is not None

    async def expired_candidates(self, limit: int = 500) -> list[Upload]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM uploads WHERE state = 'active' AND expires_at <= now()"
            " ORDER BY expires_at LIMIT %s",
            (limit,),
        )
        return [u for u in map(_row, rows) if u is not None]

    async def mark_expired(self, upload_id: str, events: Sequence[NewEvent] = (), conn: Any = None) -> bool:
        """Expire an idle upload unless someone holds its lease right now."""
        row = await self._write(
            "UPDATE uploads SET state = 'expired', updated_at = now()"
            " WHERE id = %s AND state = 'active' AND expires_at <= now()"
            " AND (lock_token IS NULL OR lock_expires_at <= now()) RETURNING id",
            (upload_id,),
            events,
            conn,
        )
        return row is not None
