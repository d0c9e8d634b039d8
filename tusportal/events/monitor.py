"""EventMonitor: what the web UI's event monitor and dashboard show of the outbox: recent events
with each delivery and its attempts, the backlog, and failing webhook subscriptions.

Knows no HTTP. Replay stays with `EventManagement.replay`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tusportal.events.management import InvalidEventsRequest, check_event_types
from tusportal.state.event_monitor import (
    DELIVERY_STATES,
    DeliveryRow,
    EventMonitorRepository,
    EventRow,
    FailingSubscription,
)
from tusportal.state.webhooks import Attempt

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class MonitoredDelivery:
    delivery: DeliveryRow
    attempts: list[Attempt]


@dataclass(frozen=True)
class MonitoredEvent:
    event: EventRow
    deliveries: list[MonitoredDelivery] = field(default_factory=list)


@dataclass(frozen=True)
class EventPage:
    events: list[MonitoredEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class Backlog:
    undispatched_events: int
    pending_deliveries: int
    oldest_seconds: float


class EventMonitor:
    def __init__(self, repository: EventMonitorRepository):
        self.repository = repository

    async def page(
        self,
        *,
        owner_id: str | None,
        event_type: str | None = None,
        delivery_state: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> EventPage:
        types = check_event_types([event_type]) if event_type else None
        if delivery_state is not None and delivery_state not in DELIVERY_STATES:
            raise InvalidEventsRequest(f"state must be one of {', '.join(DELIVERY_STATES)}")
        if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidEventsRequest(f"page must be in 1..{MAX_PAGE}, per_page in 1..{MAX_PER_PAGE}")
        total = await self.repository.count(owner_id=owner_id, types=types, delivery_state=delivery_state)
        events = await self.repository.events(
            owner_id=owner_id,
            types=types,
            delivery_state=delivery_state,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        deliveries = await self.repository.deliveries_of([e.id for e in events], owner_id)
        attempts = await self.repository.attempts_of([d.id for d in deliveries])
        by_event: dict[str, list[MonitoredDelivery]] = {}
        for d in deliveries:
            by_event.setdefault(d.event_id, []).append(MonitoredDelivery(d, attempts.get(d.id, [])))
        return EventPage([MonitoredEvent(e, by_event.get(e.id, [])) for e in events], total, page, per_page)

    async def backlog(self, owner_id: str | None) -> Backlog:
        return Backlog(*await self.repository.backlog(owner_id))

    async def failing_webhooks(self, owner_id: str | None) -> list[FailingSubscription]:
        return await self.repository.failing_subscriptions(owner_id)
