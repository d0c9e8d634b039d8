"""Serializing requests that change one upload, across processes, through PostgreSQL.

Contract:
- `acquire(upload_id)` returns the upload row with the lease taken by a fresh token, or raises
  `UploadNotFound` / `UploadLocked`. While the lease is held by another request, it asks that holder
  to stop (NOTIFY on `tusportal_release`) and waits up to `wait_seconds` for the lease to become free.
- The holder registers an interrupt callback with `hold()`; when a release request for its upload
  arrives on this process's LISTEN connection, the callback runs (it cancels the body read) and
  the holder saves its progress and releases.
- A heartbeat renews every lease held by this process; a killed process stops renewing, so its
  leases lapse after `lease_seconds`.
No connection or transaction is held while a body streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from tusportal import metrics
from tusportal.errors import DatabaseUnavailable, UploadLocked, UploadNotFound
from tusportal.state.db import Database, translate_errors
from tusportal.state.uploads import Upload, UploadRepository

log = structlog.get_logger(__name__)

CHANNEL = "tusportal_release"


@dataclass
class Lease:
    """Until when (event-loop time) the holder may keep writing. If heartbeats fail (the database
    is unreachable), the holder stops before another process could take the lease over."""

    valid_until: float


class LockManager:
    def __init__(
        self,
        db: Database,
        uploads: UploadRepository,
        *,
        lease_seconds: float,
        wait_seconds: float,
    ):
        self.db = db
        self.uploads = uploads
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        # token -> (upload id, interrupt callback)
        self._held: dict[str, tuple[str, Callable[[], None]]] = {}
        # upload id -> events set when a release notification for it arrives
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_conn: psycopg.AsyncConnection[Any] | None = None
        self._listening = asyncio.Event()
        self._leases: dict[str, Lease] = {}
        self._checkpoints: dict[str, Callable[[], Awaitable[None]]] = {}
        # stop writing this long before the lease could lapse in PostgreSQL
        self._margin = min(1.0, lease_seconds / 3)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._listen_forever(), name="lock-listener"))
        self._tasks.append(asyncio.create_task(self._heartbeat_forever(), name="lock-heartbeat"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def interrupt_all(self) -> None:
        """Graceful shutdown: every holder saves its progress and releases."""
        for _, interrupt in list(self._held.values()):
            interrupt()

    # --- holding -----------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(
        self,
        upload_id: str,
        token: str,
        interrupt: Callable[[], None],
        checkpoint: Callable[[], Awaitable[None]] | None = None,
    ) -> Iterator[Lease]:
        """Register a holder; the yielded Lease says until when this process may still write.
        `checkpoint`, when given, runs with every heartbeat: a PATCH whose client stalls still
        commits what already reached storage."""
        lease = Lease(asyncio.get_running_loop().time() + self.lease_seconds - self._margin)
        self._held[token] = (upload_id, interrupt)
        self._leases[token] = lease
        if checkpoint is not None:
            self._checkpoints[token] = checkpoint
        try:
            yield lease
        finally:
            self._held.pop(token, None)
            self._leases.pop(token, None)
            self._checkpoints.pop(token, None)

    async def acquire(self, upload_id: str) -> tuple[Upload, str]:
        token = secrets.token_hex(12)
        upload = await self.uploads.acquire(upload_id, token)
        if upload is not None:
            return upload, token
        return await self._acquire_slow(upload_id, token)

    async def try_acquire(self, upload_id: str) -> tuple[Upload, str] | None:
        """Take the lease only if it is free right now; never waits, never asks a holder to stop."""
        token = secrets.token_hex(12)
        upload = await self.uploads.acquire(upload_id, token)
        return (upload, token) if upload is not None else None

    async def _acquire_slow(self, upload_id: str, token: str) -> tuple[Upload, str]:
        current = await self.uploads.get(upload_id)
        if current is None:
            raise UploadNotFound()
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.wait_seconds
        event = asyncio.Event()
        self._waiters.setdefault(upload_id, set()).add(event)
        try:
            await self.request_release(upload_id)
            while True:
                event.clear()
                upload = await self.uploads.acquire(upload_id, token)
                if upload is not None:
                    metrics.LOCK_WAITS.labels("acquired").inc()
                    metrics.LOCK_WAIT_SECONDS.observe(loop.time() - started)
                    return upload, token
                remaining = deadline - loop.time()
                if remaining <= 0:
                    metrics.LOCK_WAITS.labels("timeout").inc()
                    metrics.LOCK_WAIT_SECONDS.observe(loop.time() - started)
                    log.info("lock_wait_timeout", upload_id=upload_id)
                    raise UploadLocked()
                # woken by a release notification, or poll: a dead holder's lease simply lapses
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=min(0.25, remaining))
        finally:
            waiters = self._waiters.get(upload_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[upload_id]

    async def request_release(self, upload_id: str) -> None:
        """Ask whoever holds the upload (on any process) to save and let go."""
        await self.db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "stop:" + upload_id))

    async def announce_released(self, upload_id: str) -> None:
        if self._waiters.get(upload_id):
            self._wake(upload_id)
        await self.db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "free:" + upload_id))

    # --- background --------------------------------------------------------------------

    def _on_notify(self, payload: str) -> None:
        kind, _, upload_id = payload.partition(":")
        if kind == "stop":
            for held_id, interrupt in list(self._held.values()):
                if held_id == upload_id:
                    log.info("lock_release_requested", upload_id=upload_id)
                    metrics.LOCK_RELEASES.inc()
                    interrupt()
        elif kind == "free":
            self._wake(upload_id)

    def _wake(self, upload_id: str) -> None:
        for event in self._waiters.get(upload_id, ()):
            event.set()

    async def _listen_forever(self) -> None:
        backoff = 0.2
        while True:
            try:
                with translate_errors():
                    conn = await psycopg.AsyncConnection.connect(self.db.url, autocommit=True)
                    self._listen_conn = conn
                    async with conn:
                        await conn.execute(f"LISTEN {CHANNEL}")
                        self._listening.set()
                        backoff = 0.2
                        async for notify in conn.notifies():
                            self._on_notify(notify.payload)
            except asyncio.CancelledError:
                raise
            except (DatabaseUnavailable, psycopg.Error) as exc:
                log.warning("lock_listener_reconnect", error=str(exc)[:200], backoff=backoff)
            self._listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _heartbeat_forever(self) -> None:
        interval = max(self.lease_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            tokens = list(self._held)
            if not tokens:
                continue
            started = asyncio.get_running_loop().time()
            try:
                await self.uploads.renew(tokens)
                for token in tokens:
                    lease = self._leases.get(token)
                    if lease is not None:
                        lease.valid_until = started + self.lease_seconds - self._margin
            except DatabaseUnavailable:
                log.warning("lock_heartbeat_failed", held=len(tokens))
                continue
            for token in tokens:
                checkpoint = self._checkpoints.get(token)
                if checkpoint is not None:
                    try:
                        await checkpoint()
                    except DatabaseUnavailable:
                        log.warning("heartbeat_checkpoint_failed")
