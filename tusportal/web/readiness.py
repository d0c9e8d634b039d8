"""The checks behind `/readyz`, cached briefly.

Load balancers and orchestrators probe often, and several of them at once; some checks open a
connection of their own (the broker) or make a request (S3). `CachedChecks` runs the checks at most
once per `ttl` seconds: a probe within that time gets the last answer, and probes that arrive while
a run is under way wait for that run instead of starting another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

Checks = Callable[[], Awaitable[dict[str, Any]]]

DEFAULT_TTL_SECONDS = 1.0


class CachedChecks:
    def __init__(self, checks: Checks, ttl: float = DEFAULT_TTL_SECONDS):
        self.checks = checks
        self.ttl = ttl
        self._result: dict[str, Any] | None = None
        self._at = 0.0
        self._running: asyncio.Future[dict[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        if self._result is not None and time.monotonic() - self._at < self.ttl:
            return self._result
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # shield: a probe that disconnects must not cancel the run the others wait for
        return await asyncio.shield(self._running)

    async def _run(self) -> dict[str, Any]:
        try:
            result = await self.checks()
            self._result, self._at = result, time.monotonic()
            return result
        finally:
            self._running = None
