"""Which event types anyone subscribes to: lets `add_events` skip the dispatch message when no
webhook subscription wants any of a transaction's events.

Each process keeps the set of event types that enabled subscriptions name, reloaded every
`refresh_seconds` and right after this process changes a subscription. While it is not known yet,
everything is wanted. An event recorded without a message is not lost: the sweeper dispatches
undispatched events in batches after its grace period, so a subscription that another instance
created a moment ago still receives an event that raced with it, a little late. Pull-feed readers
are not affected at all: the feed reads the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from tusportal.state.outbox import Publisher

log = structlog.get_logger(__name__)


class Interest:
    def __init__(self, load: Callable[[], Awaitable[set[str]]], *, refresh_seconds: float = 2.0):
        self.load = load
        self.refresh_seconds = refresh_seconds
        self.known: frozenset[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def wants(self, types: Iterable[str]) -> bool:
        known = self.known
        if known is None or "*" in known:
            return True
        return any(t in known for t in types)

    async def refresh(self) -> None:
        try:
            self.known = frozenset(await self.load())
        except Exception as exc:  # the database is away: keep publishing everything
            self.known = None
            log.warning("subscription_interest_unknown", error=f"{type(exc).__name__}: {exc}"[:200])

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="events-interest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_seconds)


class InterestedPublisher:
    """The outbox publisher: the broker (or the relay), asked only for events someone wants."""

    def __init__(self, inner: Publisher, interest: Interest):
        self.inner = inner
        self.interest = interest

    @property
    def transactional(self) -> bool:
        return self.inner.transactional

    def wants(self, types: Iterable[str]) -> bool:
        return self.interest.wants(types)

    async def in_transaction(self, conn: Any, event_ids: list[str]) -> None:
        await self.inner.in_transaction(conn, event_ids)

    def after_commit(self, event_ids: list[str]) -> None:
        self.inner.after_commit(event_ids)
