"""Read-only queries for readiness and metrics."""

from __future__ import annotations

from tusportal.state import migrations
from tusportal.state.db import Database


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
