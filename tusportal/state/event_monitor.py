"""The read side of the event monitor: recent outbox events with their webhook deliveries and
attempts, the backlog, and the subscriptions that are failing. All of it read-only.

Owner restriction (`owner_id`, None meaning every owner): an owner sees their own events, and of
those events' deliveries only the ones to their own subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusportal.state.db import Database
from tusportal.state.webhooks import Attempt

DELIVERY_STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class EventRow:
    id: str
    type: str
    subject: str
    time: datetime
    upload_id: str | None
    batch_id: str | None
    dispatched_at: datetime | None


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    event_id: str
    subscription_id: str
    url: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class FailingSubscription:
    id: str
    url: str
    enabled: bool
    dead: int  # deliveries given up on
    retrying: int  # pending deliveries with at least one failed attempt
    last_error: str | None
    last_status: int | None


_EVENT_WHERE = (
    " WHERE (%(owner)s::text IS NULL OR e.owner_id = %(owner)s)"
    " AND (%(types)s::text[] IS NULL OR e.type = ANY(%(types)s::text[]))"
    " AND (%(state)s::text IS NULL OR EXISTS (SELECT 1 FROM webhook_deliveries d"
    "   JOIN webhook_subscriptions s ON s.id = d.subscription_id"
    "   WHERE d.event_id = e.id AND d.state = %(state)s"
    "   AND (%(owner)s::text IS NULL OR s.owner_id = %(owner)s)))"
)


class EventMonitorRepository:
    def __init__(self, db: Database):
        self.db = db

    async def events(
        self,
        *,
        owner_id: str | None,
        types: list[str] | None,
        delivery_state: str | None,
        limit: int,
        offset: int,
    ) -> list[EventRow]:
        """Newest first. `delivery_state`: only events with a delivery in that state."""
        rows = await self.db.fetchall(
            "SELECT e.id::text, e.type, e.subject, e.time, e.upload_id, e.batch_id, e.dispatched_at"
            f" FROM events e{_EVENT_WHERE} ORDER BY e.seq DESC LIMIT %(limit)s OFFSET %(offset)s",
            {
                "owner": owner_id,
                "types": types or None,
                "state": delivery_state,
                "limit": limit,
                "offset": offset,
            },
        )
        return [EventRow(*r) for r in rows]

    async def count(
        self, *, owner_id: str | None, types: list[str] | None, delivery_state: str | None
    ) -> int:
        row = await self.db.fetchone(
            f"SELECT count(*) FROM events e{_EVENT_WHERE}",
            {"owner": owner_id, "types": types or None, "state": delivery_state},
        )
        return int(row[0]) if row else 0

    async def deliveries_of(self, event_ids: list[str], owner_id: str | None) -> list[DeliveryRow]:
        rows = await self.db.fetchall(
            "SELECT d.id, d.event_id::text, d.subscription_id, s.url, d.state, d.attempts,"
            " d.last_status, d.last_error, d.last_attempt_at, d.next_attempt_at, d.finished_at"
            " FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
            " WHERE d.event_id = ANY(%(ids)s::uuid[])"
            " AND (%(owner)s::text IS NULL OR s.owner_id = %(owner)s) ORDER BY d.id",
            {"ids": event_ids, "owner": owner_id},
        )
        return [DeliveryRow(*r) for r in rows]

    async def attempts_of(self, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
        rows = await self.db.fetchall(
            "SELECT delivery_id, attempt, started_at, latency_ms, status, error, outcome"
            " FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY delivery_id, id",
            (delivery_ids,),
        )
        out: dict[int, list[Attempt]] = {}
        for r in rows:
            out.setdefault(int(r[0]), []).append(Attempt(*r[1:]))
        return out

    async def backlog(self, owner_id: str | None) -> tuple[int, int, float]:
        """(events not yet dispatched, deliveries pending, age in seconds of the oldest of them)."""
        row: Any = await self.db.fetchone(
            "SELECT"
            " (SELECT count(*) FROM events WHERE dispatched_at IS NULL"
            "   AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)),"
            " (SELECT count(*) FROM webhook_deliveries d JOIN webhook_subscriptions s"
            "   ON s.id = d.subscription_id WHERE d.state = 'pending'"
            "   AND (%(owner)s::text IS NULL OR s.owner_id = %(owner)s)),"
            " extract(epoch FROM now() - least("
            "   (SELECT min(time) FROM events WHERE dispatched_at IS NULL"
            "     AND (%(owner)s::text IS NULL OR owner_id = %(owner)s)),"
            "   (SELECT min(d.created_at) FROM webhook_deliveries d JOIN webhook_subscriptions s"
            "     ON s.id = d.subscription_id WHERE d.state = 'pending'"
            "     AND (%(owner)s::text IS NULL OR s.owner_id = %(owner)s))))",
            {"owner": owner_id},
        )
        return int(row[0]), int(row[1]), float(row[2] or 0.0)

    async def failing_subscriptions(self, owner_id: str | None, limit: int = 20) -> list[FailingSubscription]:
        """Subscriptions with dead deliveries or pending ones that already failed, worst first."""
        rows = await self.db.fetchall(
            "SELECT s.id, s.url, s.enabled,"
            " count(*) FILTER (WHERE d.state = 'dead'),"
            " count(*) FILTER (WHERE d.state = 'pending' AND d.failures > 0),"
            " (array_agg(d.last_error ORDER BY d.last_attempt_at DESC NULLS LAST))[1],"
            " (array_agg(d.last_status ORDER BY d.last_attempt_at DESC NULLS LAST))[1]"
            " FROM webhook_subscriptions s JOIN webhook_deliveries d ON d.subscription_id = s.id"
            " WHERE (%(owner)s::text IS NULL OR s.owner_id = %(owner)s)"
            " AND (d.state = 'dead' OR (d.state = 'pending' AND d.failures > 0))"
            " GROUP BY s.id, s.url, s.enabled ORDER BY 4 DESC, 5 DESC, s.id LIMIT %(limit)s",
            {"owner": owner_id, "limit": limit},
        )
        return [FailingSubscription(*r) for r in rows]
