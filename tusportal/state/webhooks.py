"""Webhook subscriptions, deliveries and attempts. All webhook SQL lives here.

A delivery is one event for one subscription. Who may attempt it:
- `claim` takes a lease (no two attempts of one delivery run at once) and only when the delivery is
  due (`next_attempt_at`): a message that arrives early, or a duplicate of a retry chain that is
  already scheduled, is told so and dropped by the caller;
- `fan_out` creates the deliveries of new events already claimed for their first attempt;
- `record` ends attempts: it writes the attempt rows and the deliveries' new states in one
  statement, with the time the next attempt is due;
- `take_stuck` finds pending deliveries whose due time passed long ago with no attempt (their
  message was lost with a broker) for the sweeper to send again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from tusportal.state.db import Database

_SUBSCRIPTION = "id, url, event_types, description, enabled, owner_id, created_at, updated_at"


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    owner_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Claim:
    """A delivery leased for one attempt, with everything the attempt needs."""

    delivery_id: int
    attempt: int
    failures: int  # failed attempts since the window opened
    elapsed: float  # seconds since the retry window opened (database clock)
    url: str
    secret: str
    enabled: bool
    event_id: str
    event_type: str
    subject: str
    time: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended. outcome: 'delivered', 'retry' (due again in `retry_in` seconds),
    'final' (the receiver refused for good) or 'dead' (the retry window is over)."""

    delivery_id: int
    attempt: int
    started_at: datetime
    latency_ms: float
    status: int | None
    error: str | None
    outcome: str
    retry_in: float | None = None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.delivery_id,
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat(),
            "latency_ms": self.latency_ms,
            "status": self.status,
            "error": self.error,
            "outcome": self.outcome,
            "retry": self.retry_in,
        }


@dataclass(frozen=True)
class NotClaimed:
    """Why a delivery could not be claimed: `state` is 'missing', 'delivered', 'dead', 'leased'
    (retry after `wait` seconds) or 'not_due' (another message carries it)."""

    state: str
    wait: float = 0.0


_DELIVERY = (
    "d.id, d.event_id::text, d.subscription_id, d.state, d.attempts, d.created_at, d.last_attempt_at,"
    " d.next_attempt_at, d.last_status, d.last_error, d.finished_at, e.type"
)


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    subscription_id: str
    state: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    finished_at: datetime | None
    event_type: str


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    latency_ms: float
    status: int | None
    error: str | None
    outcome: str


class WebhookRepository:
    def __init__(self, db: Database):
        self.db = db

    # --- subscriptions ------------------------------------------------------------------

    async def create(
        self,
        subscription_id: str,
        *,
        url: str,
        event_types: list[str],
        secret: str,
        description: str = "",
        enabled: bool = True,
        owner_id: str | None = None,
    ) -> Subscription:
        row = await self.db.fetchone(
            "INSERT INTO webhook_subscriptions (id, url, event_types, secret, description, enabled, owner_id)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_SUBSCRIPTION}",
            (subscription_id, url, event_types, secret, description, enabled, owner_id),
        )
        assert row is not None
        return Subscription(*row)

    async def get(self, subscription_id: str) -> Subscription | None:
        row = await self.db.fetchone(
            f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions WHERE id = %s", (subscription_id,)
        )
        return Subscription(*row) if row else None

    async def secret(self, subscription_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT secret FROM webhook_subscriptions WHERE id = %s", (subscription_id,)
        )
        return str(row[0]) if row else None

    async def list_all(self) -> list[Subscription]:
        rows = await self.db.fetchall(
            f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions ORDER BY created_at, id"
        )
        return [Subscription(*r) for r in rows]

    async def update(
        self,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        secret: str | None = None,
    ) -> Subscription | None:
        row = await self.db.fetchone(
            "UPDATE webhook_subscriptions SET url = coalesce(%s, url),"
            " event_types = coalesce(%s, event_types), description = coalesce(%s, description),"
            " enabled = coalesce(%s, enabled), secret = coalesce(%s, secret), updated_at = now()"
            f" WHERE id = %s RETURNING {_SUBSCRIPTION}",
            (url, event_types, description, enabled, secret, subscription_id),
        )
        return Subscription(*row) if row else None

    async def subscribed_types(self) -> set[str]:
        """Every event type (or '*') that an enabled subscription names."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT t FROM webhook_subscriptions, unnest(event_types) AS t WHERE enabled"
        )
        return {str(r[0]) for r in rows}

    async def delete(self, subscription_id: str) -> bool:
        count = await self.db.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (subscription_id,))
        return count == 1

    # --- fan-out ------------------------------------------------------------------------

    async def fan_out(self, event_ids: list[str], *, lease: float) -> tuple[list[Claim], list[int]]:
        """One statement: mark the events dispatched and create one delivery per matching enabled
        subscription, already claimed for its first attempt. Returns those claims, and the ids of
        pending deliveries of these events that existed before (a dispatch that runs again after a
        crash), for the deliver actor. A subscription with an owner gets only that owner's events,
        unless the owner is an admin; one without an owner (made with auth off) gets every event."""
        rows = await self.db.fetchall(
            "WITH ev AS ("
            "  UPDATE events SET dispatched_at = now() WHERE id = ANY(%(ids)s::uuid[])"
            "  RETURNING id, type, subject, time, data, owner_id"
            "), created AS ("
            "  INSERT INTO webhook_deliveries"
            "  (event_id, subscription_id, attempts, last_attempt_at, lease_until)"
            "  SELECT ev.id, s.id, 1, now(), now() + make_interval(secs => %(lease)s)"
            "  FROM ev JOIN webhook_subscriptions s"
            "    ON s.enabled AND (ev.type = ANY(s.event_types) OR '*' = ANY(s.event_types))"
            "    AND (s.owner_id IS NULL OR s.owner_id = ev.owner_id"
            "      OR EXISTS (SELECT 1 FROM users u WHERE u.id = s.owner_id AND u.is_admin))"
            "  ORDER BY ev.id, s.id"
            "  ON CONFLICT (event_id, subscription_id) DO NOTHING RETURNING id, event_id, subscription_id"
            ") SELECT c.id, s.url, s.secret, ev.id::text, ev.type, ev.subject, ev.time, ev.data"
            " FROM created c JOIN ev ON ev.id = c.event_id"
            " JOIN webhook_subscriptions s ON s.id = c.subscription_id"
            " UNION ALL SELECT d.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM webhook_deliveries d"
            " WHERE d.event_id = ANY(%(ids)s::uuid[]) AND d.state = 'pending'",
            {"ids": event_ids, "lease": lease},
        )
        fresh, existing = [], []
        for row in rows:
            if row[1] is None:
                existing.append(row[0])
            else:
                fresh.append(Claim(row[0], 1, 0, 0.0, row[1], row[2], True, *row[3:]))
        return sorted(fresh, key=lambda c: c.delivery_id), sorted(existing)

    # --- attempts -----------------------------------------------------------------------

    async def claim(self, delivery_id: int, *, lease: float, early: float = 1.0) -> Claim | NotClaimed:
        row = await self.db.fetchone(
            "UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => %(lease)s),"
            " attempts = d.attempts + 1, last_attempt_at = now()"
            " FROM events e, webhook_subscriptions s"
            " WHERE d.id = %(id)s AND d.state = 'pending'"
            " AND (d.lease_until IS NULL OR d.lease_until <= now())"
            " AND d.next_attempt_at <= now() + make_interval(secs => %(early)s)"
            " AND e.id = d.event_id AND s.id = d.subscription_id"
            " RETURNING d.id, d.attempts, d.failures, extract(epoch FROM now() - d.window_from)::float8,"
            " s.url, s.secret, s.enabled, e.id::text, e.type, e.subject, e.time, e.data",
            {"id": delivery_id, "lease": lease, "early": early},
        )
        if row is not None:
            return Claim(*row)
        why = await self.db.fetchone(
            "SELECT state, extract(epoch FROM lease_until - now())::float8,"
            " extract(epoch FROM next_attempt_at - now())::float8"
            " FROM webhook_deliveries WHERE id = %s",
            (delivery_id,),
        )
        if why is None:
            return NotClaimed("missing")
        state, lease_left, due_in = why
        if state != "pending":
            return NotClaimed(state)
        if lease_left is not None and lease_left > 0:
            return NotClaimed("leased", wait=float(lease_left))
        return NotClaimed("not_due", wait=max(0.0, float(due_in)))

    async def record(self, outcomes: list[Outcome], conn: psycopg.AsyncConnection[Any] | None = None) -> None:
        """End attempts: one attempt row each and the deliveries' new states, in one statement
        (in the caller's transaction with `conn`)."""
        if not outcomes:
            return
        sql = (
            "WITH r AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, attempt int,"
            "  started_at timestamptz, latency_ms float8, status int, error text, outcome text, retry float8)"
            "), attempt AS ("
            "  INSERT INTO webhook_attempts"
            "  (delivery_id, attempt, started_at, latency_ms, status, error, outcome)"
            "  SELECT id, attempt, started_at, latency_ms, status, error, outcome FROM r"
            ") UPDATE webhook_deliveries d SET lease_until = NULL,"
            " last_status = r.status, last_error = r.error,"
            " state = CASE r.outcome WHEN 'delivered' THEN 'delivered'"
            "   WHEN 'retry' THEN 'pending' ELSE 'dead' END,"
            " failures = CASE WHEN r.outcome = 'delivered' THEN d.failures ELSE d.failures + 1 END,"
            " next_attempt_at = CASE WHEN r.retry IS NULL THEN d.next_attempt_at"
            "   ELSE now() + make_interval(secs => r.retry) END,"
            " finished_at = CASE WHEN r.outcome = 'retry' THEN NULL ELSE now() END"
            " FROM r WHERE d.id = r.id"
        )
        params = (json.dumps([o.row() for o in outcomes], separators=(",", ":")),)
        if conn is not None:
            await conn.execute(sql, params)
        else:
            await self.db.execute(sql, params)

    async def take_stuck(
        self, conn: psycopg.AsyncConnection[Any], older_than: float, limit: int = 500
    ) -> list[int]:
        """In the caller's transaction: pending deliveries due more than `older_than` seconds ago,
        not leased. They are made due now, so the next sweep waits again."""
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id IN ("
            " SELECT id FROM webhook_deliveries WHERE state = 'pending'"
            " AND next_attempt_at < now() - make_interval(secs => %s)"
            " AND (lease_until IS NULL OR lease_until < now())"
            " ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
            (older_than, limit),
        )
        return [r[0] for r in await cur.fetchall()]

    # --- reading and replay -------------------------------------------------------------

    async def deliveries(
        self, *, subscription_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        rows = await self.db.fetchall(
            f"SELECT {_DELIVERY} FROM webhook_deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE (%(sub)s::text IS NULL OR d.subscription_id = %(sub)s)"
            " AND (%(state)s::text IS NULL OR d.state = %(state)s)"
            " ORDER BY d.id DESC LIMIT %(limit)s",
            {"sub": subscription_id, "state": state, "limit": limit},
        )
        return [Delivery(*r) for r in rows]

    async def delivery(self, delivery_id: int) -> tuple[Delivery, list[Attempt]] | None:
        row = await self.db.fetchone(
            f"SELECT {_DELIVERY} FROM webhook_deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.id = %s",
            (delivery_id,),
        )
        if row is None:
            return None
        attempts = await self.db.fetchall(
            "SELECT attempt, started_at, latency_ms, status, error, outcome FROM webhook_attempts"
            " WHERE delivery_id = %s ORDER BY id",
            (delivery_id,),
        )
        return Delivery(*row), [Attempt(*a) for a in attempts]

    async def reopen(
        self,
        conn: psycopg.AsyncConnection[Any],
        *,
        delivery_id: int | None = None,
        subscription_id: str | None = None,
        states: tuple[str, ...] = ("dead",),
    ) -> list[int]:
        """In the caller's transaction: make finished deliveries pending again with a fresh retry
        window (replay). By id, or every one of a subscription in `states`."""
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', failures = 0, window_from = now(),"
            " next_attempt_at = now(), lease_until = NULL, finished_at = NULL"
            " WHERE state = ANY(%(states)s)"
            " AND (%(id)s::bigint IS NULL OR id = %(id)s)"
            " AND (%(sub)s::text IS NULL OR subscription_id = %(sub)s)"
            " RETURNING id",
            {"id": delivery_id, "sub": subscription_id, "states": list(states)},
        )
        return sorted(r[0] for r in await cur.fetchall())

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, count(*) FROM webhook_deliveries GROUP BY state")
        return {str(r[0]): int(r[1]) for r in rows}
