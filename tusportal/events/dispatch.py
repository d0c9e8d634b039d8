"""What the event worker does: fan events out to deliveries, attempt deliveries, sweep up the lost.

Runs on the worker's event loop (Dramatiq's AsyncIO middleware thread); its database pool and HTTP
client are opened there on first use and closed by `close()` when the worker shuts down.

- `dispatch(event_ids)`: one transaction marks the events dispatched and creates one delivery per
  matching subscription; the deliver messages go in that same transaction (PostgreSQL broker) or
  right after it (others; the dispatch message is acknowledged only after, so a crash re-runs it).
- `deliver(delivery_id)`: claim, POST once, record; returns the delay before the next attempt, or
  None when the delivery is finished (delivered, refused for good, dead, or not ours to try).
- `sweep()`: events nobody dispatched and pending deliveries whose message was lost (a Redis
  restart, a crash between commit and send) are sent again after a grace period.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog

from tusportal.events import webhooks
from tusportal.events.broker import EventBroker
from tusportal.events.schema import envelope
from tusportal.state.db import Database
from tusportal.state.events import EventRepository
from tusportal.state.webhooks import Claim, NotClaimed, WebhookRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout_seconds: float = 10.0
    retry_window_seconds: float = 24 * 3600
    retry_min_seconds: float = 2.0
    retry_max_seconds: float = 3600.0
    sweep_interval_seconds: float = 5.0
    sweep_grace_seconds: float = 30.0
    source: str = "/tusportal"


def backoff(failures: int, *, low: float, high: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: `low * 2**failures` stretched by up to 2x, and, past
    `high`, somewhere in [high/2, high] so that retries of many deliveries spread out; never below
    `low`."""
    r = rng or random
    delay = low * 2 ** min(failures, 40) * r.uniform(1.0, 2.0)
    if delay > high:
        delay = max(low, high * r.uniform(0.5, 1.0))
    return min(delay, max(low, high))


class Dispatcher:
    def __init__(
        self,
        *,
        database_url: str,
        broker: EventBroker,
        policy: DeliveryPolicy,
        pool_size: int = 4,
        client: httpx.AsyncClient | None = None,
    ):
        self.database_url = database_url
        self.broker = broker
        self.policy = policy
        self.pool_size = pool_size
        self._client = client
        self._db: Database | None = None
        self._lock = asyncio.Lock()
        self.events: EventRepository
        self.webhooks: WebhookRepository

    async def _open(self) -> None:
        if self._db is not None:
            return
        async with self._lock:
            if self._db is not None:
                return
            db = Database(self.database_url, min_size=1, max_size=self.pool_size)
            await db.open()
            self.events = EventRepository(db)
            self.webhooks = WebhookRepository(db)
            if self._client is None:
                self._client = webhooks.new_client()
            self._db = db

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> Database:
        assert self._db is not None
        return self._db

    # --- fan-out ---------------------------------------------------------------------------

    async def dispatch(self, event_ids: list[str]) -> list[int]:
        await self._open()
        async with self.db.transaction() as conn:
            deliveries = await self.webhooks.fan_out(conn, event_ids)
            if self.broker.transactional:
                await self.broker.publish_deliveries(deliveries, conn)
        if not self.broker.transactional:
            await self.broker.publish_deliveries(deliveries)
        log.debug("events_dispatched", events=len(event_ids), deliveries=len(deliveries))
        return deliveries

    # --- one attempt -----------------------------------------------------------------------

    async def deliver(self, delivery_id: int) -> float | None:
        await self._open()
        policy = self.policy
        claim = await self.webhooks.claim(delivery_id, lease=policy.timeout_seconds + 5.0)
        if isinstance(claim, NotClaimed):
            if claim.state == "leased":
                # someone is attempting it (or died attempting it): look again when the lease ends
                return claim.wait + 0.5
            log.debug("delivery_skipped", delivery_id=delivery_id, state=claim.state)
            return None
        if not claim.enabled:
            await self._finish(claim, "dead", error="subscription disabled")
            return None
        body = self.body(claim)
        assert self._client is not None
        result = await webhooks.attempt(
            self._client, claim.url, claim.secret, claim.event_id, body, seconds=policy.timeout_seconds
        )
        outcome, retry_in = result.outcome, None
        if outcome == "retry":
            left = policy.retry_window_seconds - claim.elapsed - result.latency_ms / 1000
            if left <= 0:
                outcome = "dead"
            else:
                wait = backoff(claim.failures, low=policy.retry_min_seconds, high=policy.retry_max_seconds)
                retry_in = min(max(wait, result.retry_after or 0.0), left)
        await self.webhooks.record(
            claim,
            started_at=result.started_at,
            latency_ms=result.latency_ms,
            status=result.status,
            error=result.error,
            outcome=outcome,
            retry_in=retry_in,
        )
        log.info(
            "webhook_attempt",
            delivery_id=delivery_id,
            event_id=claim.event_id,
            attempt=claim.attempt,
            outcome=outcome,
            status=result.status,
            latency_ms=result.latency_ms,
            error=result.error,
            retry_in=retry_in,
        )
        return retry_in

    def body(self, claim: Claim) -> bytes:
        doc = envelope(
            event_id=claim.event_id,
            source=self.policy.source,
            type=claim.event_type,
            subject=claim.subject,
            time=claim.time,
            data=claim.data,
        )
        return json.dumps(doc, separators=(",", ":")).encode()

    async def _finish(self, claim: Claim, outcome: str, *, error: str) -> None:
        await self.webhooks.record(
            claim, started_at=datetime.now(UTC), latency_ms=0.0, status=None, error=error, outcome=outcome
        )

    # --- sweeping --------------------------------------------------------------------------

    async def sweep(self) -> tuple[int, int]:
        """Send again what stayed undispatched or undelivered past the grace period."""
        await self._open()
        grace = self.policy.sweep_grace_seconds
        async with self.db.transaction() as conn:
            events = await self.events.take_undispatched(conn, grace)
            deliveries = await self.webhooks.take_stuck(conn, grace)
            if self.broker.transactional:
                await self.broker.publish_dispatch(events, conn)
                await self.broker.publish_deliveries(deliveries, conn)
        if not self.broker.transactional:
            await self.broker.publish_dispatch(events)
            await self.broker.publish_deliveries(deliveries)
        if events or deliveries:
            log.info("events_swept", events=len(events), deliveries=len(deliveries))
        return len(events), len(deliveries)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_interval_seconds * random.uniform(0.8, 1.2))
            try:
                await self.sweep()
            except Exception as exc:  # the database or broker is away: try again next round
                log.warning("events_sweep_failed", error=f"{type(exc).__name__}: {exc}"[:300])
