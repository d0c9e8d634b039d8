"""Parts built in the background from committed pieces, so that small PATCHes do not wait for them.

An upload sent in PATCHes smaller than a part (1 MiB each, say) keeps each body as a pending piece.
Once the committed pieces hold a part's worth (see `part_prefix`), the PATCH that completed them
answers as soon as its own piece is stored, and this instance uploads the part from the pieces in
the background. A later writer of the upload on this instance adopts the finished part: it moves
the pieces into `retired` and the part into `parts` of the state it commits. Until then the pieces
stay pending, so nothing depends on the background part:

- a writer on another instance, or one that must cut a part while the background part is still
  being built here (it waits for it first), cuts the same part number from the same pieces by the
  same rule, with the same bytes: S3 keeps either upload, and both have the same etag;
- a background part that no longer fits the committed state (another instance moved on, the
  upload was terminated) is dropped; S3 discards parts that CompleteMultipartUpload does not
  name, and a crash loses nothing but the work.

One background part per upload at a time; results not adopted are forgotten after `keep_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from tusportal.storage.s3.layout import Layout, Part, Piece

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BuiltPart:
    upload_id: str
    part: Part
    pieces: tuple[Piece, ...]  # the pending pieces it holds, the first ones after the parts

    def fits(self, layout: Layout) -> bool:
        """Does this part continue exactly the committed `layout`?"""
        n = len(self.pieces)
        return (
            not layout.complete
            and not layout.direct
            and layout.upload_id == self.upload_id
            and self.part.number == len(layout.parts) + 1
            and tuple(layout.pending[:n]) == self.pieces
        )

    def apply(self, layout: Layout) -> None:
        n = len(self.pieces)
        layout.parts.append(self.part)
        layout.pending = layout.pending[n:]
        layout.retired.extend(self.pieces)


class BackgroundParts:
    def __init__(self, keep_seconds: float = 600.0):
        self.keep_seconds = keep_seconds
        self._tasks: dict[str, asyncio.Task[BuiltPart]] = {}

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def start(self, key: str, build: Callable[[], Coroutine[Any, Any, BuiltPart]]) -> bool:
        """Build a part for `key` unless one is under way; False when one is."""
        if self.running(key):
            return False
        task = asyncio.ensure_future(build())
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._done(key, done))
        return True

    def _done(self, key: str, task: asyncio.Task[BuiltPart]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.info("s3_background_part_failed", key=key, error=str(task.exception()))
        loop = asyncio.get_running_loop()
        loop.call_later(self.keep_seconds, self._forget, key, task)

    def _forget(self, key: str, task: asyncio.Task[BuiltPart]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    def take(self, key: str) -> BuiltPart | None:
        """The finished part for `key`, if there is one (it is handed out once); never waits."""
        task = self._tasks.get(key)
        if task is None or not task.done():
            return None
        del self._tasks[key]
        if task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def wait(self, key: str) -> None:
        """Wait until no part is under way for `key` (whatever its outcome)."""
        task = self._tasks.get(key)
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait({task})

    async def settle(self, key: str) -> BuiltPart | None:
        """Wait for the part under way for `key`, then `take` it: before a request cuts a part of
        its own, so that no upload of the same part number from this instance is still running."""
        await self.wait(key)
        return self.take(key)

    def adopt_into(self, key: str, layout: Layout) -> bool:
        """Non-blocking: apply a finished part that fits `layout`; True if it was applied."""
        built = self.take(key)
        if built is None or not built.fits(layout):
            return False
        built.apply(layout)
        return True

    async def settle_into(self, key: str, layout: Layout) -> bool:
        """`settle`, then apply the part if it fits `layout`; True if it was applied."""
        await self.wait(key)
        return self.adopt_into(key, layout)
