"""The Dramatiq broker, configured once, and how events are handed to it.

`EventBroker(config)` builds the broker with its middleware, then declares the actors on it
(`actors.declare`), so no actor is ever bound to an implicit default broker and importing this
package has no side effects. The kinds:

- "postgres" (default): iddqueue; tasks live in the `tusportal_queue` schema of our database. It
  publishes inside the caller's transaction (`in_transaction`), so an outbox row and its dispatch
  message commit together.
- "rabbitmq", "redis": messages are sent after commit (`send_*`, blocking; async callers use the
  `publish_*` coroutines, which run them in a thread). The relay (`relay.py`) and the sweeper
  (`dispatch.py`) cover a crash or a broker outage between commit and send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from tusportal.events import actors

if TYPE_CHECKING:
    from tusportal.events.dispatch import Dispatcher

QUEUE = "tusportal-events"
QUEUE_SCHEMA = "tusportal_queue"  # created by migration 0003
KINDS = ("postgres", "rabbitmq", "redis")


@dataclass(frozen=True)
class BrokerConfig:
    kind: str = "postgres"
    url: str = ""  # the database URL for postgres; amqp://... or redis://... otherwise
    retry_min_seconds: float = 2.0
    retry_max_seconds: float = 3600.0
    delivery_timeout_seconds: float = 10.0
    pool_size: int = 8  # postgres: connections for consumers, acks and retries
    queue: str = QUEUE

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"events broker must be one of {', '.join(KINDS)}, not {self.kind!r}")


def _middleware(config: BrokerConfig, extra: Sequence[Middleware]) -> list[Middleware]:
    return [
        AgeLimit(),
        TimeLimit(time_limit=int((config.delivery_timeout_seconds * 3 + 60) * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=20,
            min_backoff=int(config.retry_min_seconds * 1000),
            max_backoff=int(config.retry_max_seconds * 1000),
        ),
        AsyncIO(),
        *extra,
    ]


def _build(config: BrokerConfig, middleware: list[Middleware]) -> tuple[dramatiq.Broker, Any]:
    """The broker, and the connection pool we own (postgres), to close with it."""
    if config.kind == "postgres":
        from tusportal.events.pgqueue import postgres_broker

        return postgres_broker(
            config.url, schema=QUEUE_SCHEMA, pool_size=config.pool_size, middleware=middleware
        )
    if config.kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # publisher confirms: a message counts as handed over only once RabbitMQ has it
        return RabbitmqBroker(url=config.url or None, confirm_delivery=True, middleware=middleware), None
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=config.url or None, namespace="tusportal", middleware=middleware), None


class EventBroker:
    """The configured broker and its actors; also the outbox publisher when transactional."""

    def __init__(
        self,
        config: BrokerConfig,
        *,
        dispatcher: Callable[[], Dispatcher] | None = None,
        middleware: Sequence[Middleware] = (),
    ):
        self.config = config
        self.dramatiq, self._pool = _build(config, _middleware(config, middleware))
        self.actors = actors.declare(self.dramatiq, config.queue, dispatcher or _no_dispatcher)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def transactional(self) -> bool:
        return self.config.kind == "postgres"

    # --- the outbox publisher protocol (state/outbox.py) -----------------------------------

    async def in_transaction(self, conn: Any, event_ids: list[str]) -> None:
        await self._enqueue_on(conn, [self.actors.dispatch_events.message(event_ids)])

    def after_commit(self, event_ids: list[str]) -> None:
        raise RuntimeError("a non-transactional broker publishes through the relay")

    def wants(self, types: Iterable[str]) -> bool:
        return True

    # --- publishing -------------------------------------------------------------------------

    async def _enqueue_on(self, conn: Any, messages: list[dramatiq.Message[Any]]) -> None:
        broker: Any = self.dramatiq
        if len(messages) == 1:
            await broker.enqueue_in_transaction_async(messages[0], connection=conn)
        elif messages:
            await broker.enqueue_many_in_transaction_async(messages, connection=conn)

    def send_dispatch(self, event_ids: list[str]) -> None:
        self.actors.dispatch_events.send(event_ids)

    def send_deliveries(self, delivery_ids: list[int]) -> None:
        for delivery_id in delivery_ids:
            self.actors.deliver.send(delivery_id)

    async def publish_dispatch(self, event_ids: list[str], conn: Any = None) -> None:
        """With `conn` (transactional brokers), inside the caller's transaction; else now."""
        if not event_ids:
            return
        if conn is not None and self.transactional:
            await self.in_transaction(conn, event_ids)
        else:
            await asyncio.to_thread(self.send_dispatch, event_ids)

    async def publish_deliveries(self, delivery_ids: list[int], conn: Any = None) -> None:
        if not delivery_ids:
            return
        if conn is not None and self.transactional:
            for start in range(0, len(delivery_ids), 1000):
                chunk = delivery_ids[start : start + 1000]
                await self._enqueue_on(conn, [self.actors.deliver.message(d) for d in chunk])
        else:
            await asyncio.to_thread(self.send_deliveries, delivery_ids)

    async def publish_retries(self, retries: list[tuple[int, float]], conn: Any = None) -> None:
        """Deliver messages that wait `delay` seconds (a failed first attempt's retry)."""
        if not retries:
            return
        messages = [self.actors.deliver.message(d) for d, _ in retries]
        if conn is not None and self.transactional:
            broker: Any = self.dramatiq
            for message, (_, delay) in zip(messages, retries, strict=True):
                await broker.enqueue_in_transaction_async(message, connection=conn, delay=int(delay * 1000))
            return

        def send() -> None:
            for message, (_, delay) in zip(messages, retries, strict=True):
                self.dramatiq.enqueue(message, delay=int(delay * 1000))

        await asyncio.to_thread(send)

    def close(self) -> None:
        self.dramatiq.close()
        if self._pool is not None:
            self._pool.close()


def _no_dispatcher() -> Dispatcher:
    raise RuntimeError("this process publishes events but runs no event worker")
