"""What `tusportal cleanup` may remove, and removing it: the SQL of the cleanup jobs.

Leftover bytes. An upload that was terminated or expired (or a partial upload consumed by its final)
has its bytes deleted right after the state change commits; a crash or a storage outage in between
leaves them behind. Such a row is claimed here by recording `bytes_removed_at` in its
`storage_state` (nothing reads the storage state of a finished-with upload again) before its bytes
are deleted, so two cleanups never count the same upload; a delete that fails releases the claim.

Events. An event may go once the retention period has passed since it was recorded, it has been
dispatched (fanned out to deliveries, or found wanted by no subscription), and none of its
deliveries is still pending. Its deliveries and their attempts go with it (ON DELETE CASCADE).

Only one cleanup runs at a time across every process: `exclusive_run` holds a session advisory lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tusportal.state.db import Database

_ADVISORY_KEY = 0x7475_7370_636C  # "tuspcl"

# SELECT list of a leftover upload
_LEFTOVER = "id, state, storage_key, storage_state, upload_offset"
_UNCLAIMED = (
    "state IN ('terminated', 'expired') AND NOT coalesce(storage_state ? 'bytes_removed_at', false)"
    " AND updated_at <= now() - make_interval(secs => %(grace)s)"
)

_EVENTS_DONE_WITH = (
    "SELECT e.id FROM events e"
    " WHERE e.time <= now() - make_interval(secs => %(retention)s) AND e.dispatched_at IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending')"
    " ORDER BY e.time LIMIT %(limit)s"
)


@dataclass(frozen=True)
class Leftover:
    """A terminated or expired upload whose bytes may still be in storage."""

    id: str
    state: str
    storage_key: str
    storage_state: dict[str, Any] | None
    offset: int  # the bytes it had stored, as far as the database knows


@dataclass(frozen=True)
class RemovedEvents:
    events: int
    deliveries: int
    attempts: int


@asynccontextmanager
async def exclusive_run(db: Database) -> AsyncIterator[bool]:
    """Yields whether this process may run the cleanup now (no other cleanup holds the lock)."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_ADVISORY_KEY,))
        row = await cur.fetchone()
        got = bool(row and row[0])
        try:
            yield got
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_KEY,))


async def leftovers(db: Database, *, grace_seconds: float, limit: int = 500) -> list[Leftover]:
    """Leftover candidates, without claiming them (for a dry run)."""
    rows = await db.fetchall(
        f"SELECT {_LEFTOVER} FROM uploads WHERE {_UNCLAIMED} ORDER BY updated_at LIMIT %(limit)s",
        {"grace": grace_seconds, "limit": limit},
    )
    return [Leftover(*row) for row in rows]


async def claim_leftovers(db: Database, *, grace_seconds: float, limit: int = 500) -> list[Leftover]:
    """Claim up to `limit` leftovers; returns them with the storage state from before the claim."""
    rows = await db.fetchall(
        f"WITH picked AS (SELECT {_LEFTOVER} FROM uploads WHERE {_UNCLAIMED}"
        "   ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
        " claimed AS (UPDATE uploads u SET storage_state = coalesce(u.storage_state, '{}'::jsonb)"
        "   || jsonb_build_object('bytes_removed_at', now()) FROM picked WHERE u.id = picked.id"
        "   RETURNING u.id)"
        f" SELECT {_LEFTOVER} FROM picked WHERE id IN (SELECT id FROM claimed)",
        {"grace": grace_seconds, "limit": limit},
    )
    return [Leftover(*row) for row in rows]


async def release_claim(db: Database, upload_id: str) -> None:
    """Deleting the bytes failed: the next cleanup tries again."""
    await db.execute(
        "UPDATE uploads SET storage_state = nullif(storage_state - 'bytes_removed_at', '{}'::jsonb)"
        " WHERE id = %s",
        (upload_id,),
    )


async def events_done_with(db: Database, *, retention_seconds: float, limit: int = 5000) -> RemovedEvents:
    """What `remove_events` would remove now (for a dry run)."""
    row = await db.fetchone(
        f"WITH doomed AS ({_EVENTS_DONE_WITH}),"
        " deliveries AS (SELECT d.id FROM webhook_deliveries d JOIN doomed ON d.event_id = doomed.id)"
        " SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM deliveries),"
        "  (SELECT count(*) FROM webhook_attempts a JOIN deliveries ON a.delivery_id = deliveries.id)",
        {"retention": retention_seconds, "limit": limit},
    )
    assert row is not None
    return RemovedEvents(*row)


async def remove_events(db: Database, *, retention_seconds: float, limit: int = 5000) -> RemovedEvents:
    """Delete up to `limit` events past retention, with their deliveries and attempts."""
    row = await db.fetchone(
        f"WITH doomed AS ({_EVENTS_DONE_WITH} FOR UPDATE OF e SKIP LOCKED),"
        " deliveries AS (SELECT d.id FROM webhook_deliveries d JOIN doomed ON d.event_id = doomed.id),"
        " attempts AS (SELECT count(*) AS n FROM webhook_attempts a"
        "   JOIN deliveries ON a.delivery_id = deliveries.id),"
        " gone AS (DELETE FROM events WHERE id IN (SELECT id FROM doomed) RETURNING id)"
        " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM deliveries), (SELECT n FROM attempts)",
        {"retention": retention_seconds, "limit": limit},
    )
    assert row is not None
    return RemovedEvents(*row)
