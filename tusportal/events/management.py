"""Webhook subscriptions, deliveries, replay and the pull feed: what the JSON API and the CLI call.

Knows no HTTP framework. Documents returned here are the API's JSON bodies.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tusportal.errors import InvalidRequestBody, TusError
from tusportal.events import webhooks
from tusportal.events.broker import EventBroker
from tusportal.events.schema import EVENT_TYPES, envelope
from tusportal.progress import Report, silent
from tusportal.state.db import Database
from tusportal.state.events import EventRepository, InvalidCursor
from tusportal.state.webhooks import Attempt, Delivery, Subscription, WebhookRepository

MAX_WAIT_SECONDS = 60.0
REPLAY_CHUNK = 1000  # deliveries handed to the broker at a time
DELIVERY_STATES = ("pending", "delivered", "dead")


class InvalidEventsRequest(InvalidRequestBody):
    code = "invalid_events_request"


class WebhookNotFound(TusError):
    status = 404
    code = "webhook_not_found"
    message = "no such webhook"


class DeliveryNotFound(TusError):
    status = 404
    code = "delivery_not_found"
    message = "no such delivery"


def check_url(url: str) -> str:
    import httpx  # not at start: with its deps it costs ~10 MiB

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise InvalidEventsRequest("url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidEventsRequest("url must be an absolute http:// or https:// URL")
    return url


def check_event_types(event_types: list[str]) -> list[str]:
    if not event_types:
        raise InvalidEventsRequest("event_types must name at least one event type, or '*'")
    unknown = [t for t in event_types if t != "*" and t not in EVENT_TYPES]
    if unknown:
        raise InvalidEventsRequest(
            f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}, or '*'"
        )
    return list(dict.fromkeys(event_types))


def subscription_doc(s: Subscription, secret: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": s.id,
        "url": s.url,
        "event_types": s.event_types,
        "description": s.description,
        "enabled": s.enabled,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }
    if secret is not None:
        doc["secret"] = secret
    return doc


def delivery_doc(d: Delivery, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "webhook_id": d.subscription_id,
        "state": d.state,
        "attempts": d.attempts,
        "created_at": d.created_at.isoformat(),
        "last_attempt_at": d.last_attempt_at.isoformat() if d.last_attempt_at else None,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.state == "pending" else None,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "finished_at": d.finished_at.isoformat() if d.finished_at else None,
    }
    if attempts is not None:
        doc["attempt_log"] = [
            {
                "attempt": a.attempt,
                "started_at": a.started_at.isoformat(),
                "latency_ms": a.latency_ms,
                "status": a.status,
                "error": a.error,
                "outcome": a.outcome,
            }
            for a in attempts
        ]
    return doc


class EventManagement:
    def __init__(
        self,
        db: Database,
        broker: EventBroker,
        *,
        source: str,
        feed_poll_seconds: float = 0.1,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ):
        """`on_change` runs after a subscription is created, changed or deleted."""
        self.on_change = on_change
        self.db = db
        self.broker = broker
        self.source = source
        self.feed_poll = feed_poll_seconds
        self.webhooks = WebhookRepository(db)
        self.events = EventRepository(db)

    # --- subscriptions --------------------------------------------------------------------

    async def create_webhook(
        self,
        *,
        url: str,
        event_types: list[str],
        description: str = "",
        enabled: bool = True,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        secret = webhooks.new_secret()
        sub = await self.webhooks.create(
            "wh_" + secrets.token_urlsafe(12),
            url=check_url(url),
            event_types=check_event_types(event_types),
            secret=secret,
            description=description,
            enabled=enabled,
            owner_id=owner_id,
        )
        await self._changed()
        return subscription_doc(sub, secret)

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    async def list_webhooks(self, owner_id: str | None = None) -> list[dict[str, Any]]:
        """Every subscription; with `owner_id`, only that owner's."""
        found = await self.webhooks.list_all()
        return [subscription_doc(s) for s in found if owner_id is None or s.owner_id == owner_id]

    async def webhook_owner(self, webhook_id: str) -> str | None:
        """The owner of a subscription; WebhookNotFound when there is none."""
        sub = await self.webhooks.get(webhook_id)
        if sub is None:
            raise WebhookNotFound()
        return sub.owner_id

    async def delivery_owner(self, delivery_id: int) -> str | None:
        """The owner of a delivery's subscription; DeliveryNotFound when there is none."""
        found = await self.webhooks.delivery(delivery_id)
        sub = await self.webhooks.get(found[0].subscription_id) if found is not None else None
        if sub is None:
            raise DeliveryNotFound()
        return sub.owner_id

    async def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        sub = await self.webhooks.get(webhook_id)
        if sub is None:
            raise WebhookNotFound()
        return subscription_doc(sub)

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        rotate_secret: bool = False,
    ) -> dict[str, Any]:
        secret = webhooks.new_secret() if rotate_secret else None
        sub = await self.webhooks.update(
            webhook_id,
            url=check_url(url) if url is not None else None,
            event_types=check_event_types(event_types) if event_types is not None else None,
            description=description,
            enabled=enabled,
            secret=secret,
        )
        if sub is None:
            raise WebhookNotFound()
        await self._changed()
        return subscription_doc(sub, secret)

    async def delete_webhook(self, webhook_id: str) -> None:
        if not await self.webhooks.delete(webhook_id):
            raise WebhookNotFound()
        await self._changed()

    # --- deliveries -----------------------------------------------------------------------

    async def deliveries(
        self, *, webhook_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if state is not None and state not in DELIVERY_STATES:
            raise InvalidEventsRequest(f"state must be one of {', '.join(DELIVERY_STATES)}")
        if webhook_id is not None and await self.webhooks.get(webhook_id) is None:
            raise WebhookNotFound()
        found = await self.webhooks.deliveries(subscription_id=webhook_id, state=state, limit=limit)
        return [delivery_doc(d) for d in found]

    async def delivery(self, delivery_id: int) -> dict[str, Any]:
        found = await self.webhooks.delivery(delivery_id)
        if found is None:
            raise DeliveryNotFound()
        return delivery_doc(*found)

    async def replay(
        self, *, delivery_id: int | None = None, webhook_id: str | None = None, progress: Report = silent
    ) -> list[int]:
        """Deliver again: one delivery (dead or delivered), or every dead one of a webhook.
        `progress` hears how many were reopened and how many are queued as it goes."""
        if delivery_id is not None and await self.webhooks.delivery(delivery_id) is None:
            raise DeliveryNotFound()
        if webhook_id is not None and await self.webhooks.get(webhook_id) is None:
            raise WebhookNotFound()
        states = ("dead", "delivered") if delivery_id is not None else ("dead",)
        async with self.db.transaction() as conn:
            reopened = await self.webhooks.reopen(
                conn, delivery_id=delivery_id, subscription_id=webhook_id, states=states
            )
            progress(f"replay: {len(reopened)} delivery(ies) reopened")
            if self.broker.transactional:
                await self._queue(reopened, conn, progress)
        if not self.broker.transactional:
            await self._queue(reopened, None, progress)
        progress(f"replay: done, {len(reopened)} delivery(ies) queued")
        return reopened

    async def _queue(self, delivery_ids: list[int], conn: Any, progress: Report) -> None:
        for start in range(0, len(delivery_ids), REPLAY_CHUNK):
            chunk = delivery_ids[start : start + REPLAY_CHUNK]
            await self.broker.publish_deliveries(chunk, conn)
            progress(f"replay: {start + len(chunk)} of {len(delivery_ids)} queued")

    # --- the pull feed --------------------------------------------------------------------

    async def feed(
        self,
        *,
        after: str,
        wait: float = 0.0,
        limit: int = 100,
        types: list[str] | None = None,
        batch_id: str | None = None,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        """Events after the cursor, waiting up to `wait` seconds for the first one; with
        `owner_id`, only that owner's events."""
        if types:
            check_event_types(types)
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
        pause = self.feed_poll
        while True:
            try:
                found = await self.events.feed(
                    after, limit=limit, types=types or None, batch_id=batch_id, owner_id=owner_id
                )
            except InvalidCursor as exc:
                raise InvalidEventsRequest(str(exc)) from None
            left = deadline - time.monotonic()
            if found or left <= 0:
                break
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)
        return {
            "events": [
                envelope(
                    event_id=e.id,
                    source=self.source,
                    type=e.type,
                    subject=e.subject,
                    time=e.time,
                    data=e.data,
                    sequence=e.cursor,
                )
                for e in found
            ],
            "next": found[-1].cursor if found else after,
        }
