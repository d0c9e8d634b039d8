"""What the event worker does: fan events out to deliveries, attempt deliveries, sweep up the lost.

Runs on the worker's event loop (Dramatiq's AsyncIO middleware thread); its database pool and HTTP
client are opened there on first use and closed by `close()` when the worker shuts down.

- `dispatch(event_ids)`: one transaction marks the events dispatched and creates one delivery per
  matching subscription, claimed; the first attempts run right away, concurrently, and are recorded
  in one statement. A failed attempt becomes a delayed deliver message, enqueued in the transaction
  that records it (PostgreSQL broker) or right after (others). The dispatch message is acknowledged
  only after all that, so a crash re-runs it; the deliveries it already made go to the deliver actor.
- `deliver(delivery_id)`: claim, POST once, record; the actor turns the returned delay into a
  `Retry`, so the Retries middleware schedules the next attempt.
- `sweep()`: events nobody dispatched and pending deliveries whose message was lost (a Redis
  restart, a crash between commit and send) are sent again after a grace period.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from tusportal import metrics
from tusportal.events import webhooks
from tusportal.events.broker import EventBroker
from tusportal.events.schema import envelope
from tusportal.logging import upload_context
from tusportal.state.db import Database
from tusportal.state.events import EventRepository
from tusportal.state.webhooks import Claim, NotClaimed, Outcome, WebhookRepository

if TYPE_CHECKING:
    import httpx

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

    # --- fan-out, with each delivery's first attempt ------------------------------------------

    async def dispatch(self, event_ids: list[str]) -> list[Outcome]:
        """Create the deliveries of these events and make their first attempts right here (one
        message instead of one per delivery); what fails is handed to the deliver actor with a
        delay, in the transaction that records the failure (PostgreSQL broker) or right after."""
        await self._open()
        fresh, existing = await self.webhooks.fan_out(event_ids, lease=self.lease)
        outcomes = list(await asyncio.gather(*(self._attempt(claim) for claim in fresh)))
        await self._record(outcomes)
        # deliveries made by an earlier run of this dispatch (it crashed): the deliver actor decides
        await self.broker.publish_deliveries(existing)
        log.debug("events_dispatched", events=len(event_ids), deliveries=len(fresh), earlier=len(existing))
        return outcomes

    # --- one attempt (a retry, or a replay) ------------------------------------------------

    async def deliver(self, delivery_id: int) -> float | None:
        """Returns the delay before the next attempt, or None when the delivery is finished
        (delivered, refused for good, dead, or not ours to try)."""
        await self._open()
        claim = await self.webhooks.claim(delivery_id, lease=self.lease)
        if isinstance(claim, NotClaimed):
            if claim.state == "leased":
                # someone is attempting it (or died attempting it): look again when the lease ends
                return claim.wait + 0.5
            log.debug("delivery_skipped", delivery_id=delivery_id, state=claim.state)
            return None
        outcome = await self._attempt(claim)
        await self.webhooks.record([outcome])
        return outcome.retry_in

    @property
    def lease(self) -> float:
        return self.policy.timeout_seconds + 5.0

    async def _attempt(self, claim: Claim) -> Outcome:
        data = claim.data if isinstance(claim.data, dict) else {}
        # the lines of this attempt (and of the webhook client) name the upload the event is about
        with upload_context(data.get("upload_id"), data.get("owner_id")):
            return await self._attempt_bound(claim)

    async def _attempt_bound(self, claim: Claim) -> Outcome:
        policy = self.policy
        if not claim.enabled:
            return Outcome(
                claim.delivery_id,
                claim.attempt,
                datetime.now(UTC),
                0.0,
                None,
                "subscription disabled",
                "dead",
            )
        if self._client is None:  # at the first attempt: no HTTP client where no webhook is subscribed
            self._client = webhooks.new_client()
        result = await webhooks.attempt(
            self._client,
            claim.url,
            claim.secret,
            claim.event_id,
            self.body(claim),
            seconds=policy.timeout_seconds,
        )
        outcome, retry_in = result.outcome, None
        if outcome == "retry":
            left = policy.retry_window_seconds - claim.elapsed - result.latency_ms / 1000
            if left <= 0:
                outcome = "dead"
            else:
                wait = backoff(claim.failures, low=policy.retry_min_seconds, high=policy.retry_max_seconds)
                retry_in = min(max(wait, result.retry_after or 0.0), left)
        metrics.DELIVERY_ATTEMPTS.labels(outcome).inc()
        log.info(
            "webhook_attempt",
            delivery_id=claim.delivery_id,
            event_id=claim.event_id,
            attempt=claim.attempt,
            outcome=outcome,
            status=result.status,
            latency_ms=result.latency_ms,
            error=result.error,
            retry_in=retry_in,
        )
        return Outcome(
            claim.delivery_id, claim.attempt, result.started_at, result.latency_ms, result.status,
            result.error, outcome, retry_in,
        )  # fmt: skip

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Record first attempts; their retries become delayed deliver messages."""
        retries = [(o.delivery_id, o.retry_in) for o in outcomes if o.retry_in is not None]
        if retries and self.broker.transactional:
            async with self.db.transaction() as conn:
                await self.webhooks.record(outcomes, conn)
                await self.broker.publish_retries(retries, conn)
            return
        await self.webhooks.record(outcomes)
        await self.broker.publish_retries(retries)

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

    # --- sweeping --------------------------------------------------------------------------

    async def sweep(self, *, batch: int = 500, rounds: int = 40) -> tuple[int, int]:
        """Send again what stayed undispatched or undelivered past the grace period. Events that
        no subscription wants (recorded without a message) are marked dispatched in bulk here."""
        await self._open()
        grace = self.policy.sweep_grace_seconds
        events = deliveries = 0
        for _ in range(rounds):
            async with self.db.transaction() as conn:
                resend, seen = await self.events.take_undispatched(conn, grace, batch)
                stuck = await self.webhooks.take_stuck(conn, grace, batch)
                if self.broker.transactional:
                    await self.broker.publish_dispatch(resend, conn)
                    await self.broker.publish_deliveries(stuck, conn)
            if not self.broker.transactional:
                await self.broker.publish_dispatch(resend)
                await self.broker.publish_deliveries(stuck)
            events += len(resend)
            deliveries += len(stuck)
            if seen < batch and len(stuck) < batch:
                break
        if events or deliveries:
            log.info("events_swept", events=events, deliveries=deliveries)
        return events, deliveries

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_interval_seconds * random.uniform(0.8, 1.2))
            try:
                await self.sweep()
            except Exception as exc:  # the database or broker is away: try again next round
                log.warning("events_sweep_failed", error=f"{type(exc).__name__}: {exc}"[:300])
