"""Read-only queries for readiness and metrics."""

from __future__ import annotations

import psycopg

from tusportal.errors import DatabaseUnavailable
from tusportal.state import migrations
from tusportal.state.db import Database

# the PostgreSQL broker's tables (migration 0003) that publishing and consuming touch
QUEUE_TABLES = ("queue", "queue_control")


async def schema_version(db: Database) -> int:
    async with db.connection() as conn:
        return await migrations.current_version(conn)


async def outbox_backlog(db: Database) -> tuple[int, float]:
    """(events not yet dispatched + webhook deliveries still pending, age in seconds of the
    oldest of them)."""
    row = await db.fetchone(
        "SELECT"
        " (SELECT count(*) FROM events WHERE dispatched_at IS NULL)"
        " + (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'),"
        " extract(epoch FROM now() - least("
        "   (SELECT min(time) FROM events WHERE dispatched_at IS NULL),"
        "   (SELECT min(created_at) FROM webhook_deliveries WHERE state = 'pending')))"
    )
    if row is None:
        return 0, 0.0
    return int(row[0]), float(row[1] or 0.0)


async def queue_ready(db: Database, schema: str) -> str:
    """The PostgreSQL broker's readiness: "ok" when its queue tables can be read, else
    "error: <why>". `schema` is ours (a constant), not user input."""
    try:
        for table in QUEUE_TABLES:
            await db.fetchone(f'SELECT 1 FROM "{schema}"."{table}" LIMIT 1')
    except DatabaseUnavailable:
        return "error: database unreachable"
    except psycopg.Error as exc:
        return "error: " + " ".join(str(exc).split())[:200]
    return "ok"
