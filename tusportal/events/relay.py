"""The relay: hands committed outbox rows to a non-transactional broker (RabbitMQ, Redis).

`add_events` tells the relay the ids of the events it recorded, before its transaction commits. The
relay sends a dispatch message for them as soon as they are visible (committed), in batches: it
looks them up, sends those it sees, and looks again a little later for the rest. Ids that never
show up were rolled back, or commit slowly, or the process dies first: after `give_up_seconds` the
relay forgets them, and the sweeper re-sends any that did commit. So a crash or a broker outage
between commit and send delays an event, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import structlog

from tusportal.events.broker import EventBroker
from tusportal.state.events import EventRepository

log = structlog.get_logger(__name__)

_RECHECK = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5)


class Relay:
    transactional = False

    def __init__(
        self, events: EventRepository, broker: EventBroker, *, batch: int = 500, give_up_seconds: float = 5.0
    ):
        self.events = events
        self.broker = broker
        self.batch = batch
        self.give_up_seconds = give_up_seconds
        self._pending: dict[str, float] = {}  # event id -> when we heard of it
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- the outbox publisher protocol ------------------------------------------------------

    async def in_transaction(self, conn: object, event_ids: list[str]) -> None:
        raise RuntimeError("the relay publishes after commit")

    def wants(self, types: Iterable[str]) -> bool:
        return True

    def after_commit(self, event_ids: list[str]) -> None:
        now = time.monotonic()
        for event_id in event_ids:
            self._pending.setdefault(event_id, now)
        self._wake.set()

    # --- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="events-relay")

    async def stop(self) -> None:
        """Send what is visible now; anything else is the sweeper's."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            with contextlib.suppress(Exception):
                await self._send_visible()

    async def _run(self) -> None:
        step = 0
        while True:
            if not self._pending:
                step = 0
                self._wake.clear()
                await self._wake.wait()
            try:
                progressed = await self._send_visible()
            except Exception as exc:  # broker or database away: the sweeper has these rows
                log.warning("events_relay_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                self._forget(older_than=0.0)
                continue
            self._forget(older_than=self.give_up_seconds)
            if self._pending:
                step = 0 if progressed else min(step + 1, len(_RECHECK) - 1)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _RECHECK[step])

    async def _send_visible(self) -> bool:
        ids = list(self._pending)[: self.batch]
        visible = await self.events.committed(ids)
        if not visible:
            return False
        await self.broker.publish_dispatch(visible)
        for event_id in visible:
            self._pending.pop(event_id, None)
        return True

    def _forget(self, *, older_than: float) -> None:
        cutoff = time.monotonic() - older_than
        stale = [i for i, seen in self._pending.items() if seen <= cutoff]
        for event_id in stale:
            del self._pending[event_id]
        if stale:
            log.info("events_left_to_sweeper", events=len(stale))
