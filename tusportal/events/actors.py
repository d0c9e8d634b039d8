"""The actors: thin shells over the Dispatcher (`dispatch.py`), declared on a broker by `declare`.

Nothing is declared at import time: `EventBroker` calls `declare` once, on the broker it has just
configured. Retries happen here, at one layer: the Retries middleware re-enqueues a delivery when the
actor raises `Retry` with the delay the dispatcher chose (exponential, with jitter, inside the
retry window), and retries a bounded number of times after an unexpected fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq

if TYPE_CHECKING:
    from tusportal.events.dispatch import Dispatcher

DISPATCH_ACTOR = "tusportal_dispatch_events"
DELIVER_ACTOR = "tusportal_deliver"
UNEXPECTED_FAULT_RETRIES = 50


@dataclass(frozen=True)
class Actors:
    dispatch_events: dramatiq.Actor[[list[str]], Any]
    deliver: dramatiq.Actor[[int], Any]


def _retry_delivery(retries: int, exc: BaseException) -> bool:
    return isinstance(exc, dramatiq.Retry) or retries < UNEXPECTED_FAULT_RETRIES


def declare(broker: dramatiq.Broker, queue: str, dispatcher: Callable[[], Dispatcher]) -> Actors:
    async def dispatch_events(event_ids: list[str]) -> None:
        await dispatcher().dispatch(event_ids)

    async def deliver(delivery_id: int) -> None:
        retry_in = await dispatcher().deliver(delivery_id)
        if retry_in is not None:
            raise dramatiq.Retry(f"delivery {delivery_id} retries", delay=max(1, int(retry_in * 1000)))

    return Actors(
        dispatch_events=dramatiq.actor(
            broker=broker,
            actor_name=DISPATCH_ACTOR,
            queue_name=queue,
            priority=0,
            max_retries=UNEXPECTED_FAULT_RETRIES,
        )(dispatch_events),
        deliver=dramatiq.actor(
            broker=broker,
            actor_name=DELIVER_ACTOR,
            queue_name=queue,
            priority=10,
            retry_when=_retry_delivery,
        )(deliver),
    )
