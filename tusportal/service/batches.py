"""BatchService: batches of files, their progress, and their completion (recorded exactly once)."""

from __future__ import annotations

import secrets
from typing import Any

import structlog

from tusportal import batching
from tusportal.errors import BatchNotFound, BatchNotJoinable, BatchStateConflict
from tusportal.events import emit
from tusportal.state.batches import Batch, BatchRepository
from tusportal.state.db import Database
from tusportal.state.outbox import add_events

log = structlog.get_logger(__name__)


def new_batch_id() -> str:
    return "b_" + secrets.token_urlsafe(12)


class BatchService:
    def __init__(self, db: Database, batches: BatchRepository, *, file_url: str = "/files/"):
        self.db = db
        self.batches = batches
        self.file_url = file_url

    async def create(
        self, *, name: str, expected_files: int | None, metadata: dict[str, Any], owner_id: str | None = None
    ) -> dict[str, Any]:
        batch = await self.batches.create(
            new_batch_id(), name=name, expected_files=expected_files, metadata=metadata, owner_id=owner_id
        )
        log.info("batch_created", batch_id=batch.id, expected_files=expected_files)
        return batching.document(batch, [], self.file_url)

    async def get(self, batch_id: str) -> dict[str, Any]:
        batch = await self.batches.get(batch_id)
        if batch is None:
            raise BatchNotFound()
        return batching.document(batch, await self.batches.files(batch_id), self.file_url)

    async def list(
        self, *, state: str | None, limit: int, offset: int, owner_id: str | None = None
    ) -> list[dict[str, Any]]:
        out = []
        found = await self.batches.list_batches(state=state, limit=limit, offset=offset, owner_id=owner_id)
        for batch in found:
            out.append(batching.document(batch, await self.batches.files(batch.id), self.file_url))
        return out

    async def seal(self, batch_id: str) -> dict[str, Any]:
        """No more files; the batch completes once every file in it has finished."""
        async with self.db.transaction() as conn:
            batch = await self.batches.lock(conn, batch_id)
            if batch is None:
                raise BatchNotFound()
            if batch.state == "cancelled":
                raise BatchStateConflict("a cancelled batch cannot be sealed")
            if batch.state == "open":
                await self.batches.set_state(conn, batch_id, "sealed")
                log.info("batch_sealed", batch_id=batch_id)
                await self.complete_in(conn, batch_id)
        return await self.get(batch_id)

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        async with self.db.transaction() as conn:
            batch = await self.batches.lock(conn, batch_id)
            if batch is None:
                raise BatchNotFound()
            if batch.state == "completed":
                raise BatchStateConflict("a completed batch cannot be cancelled")
            if batch.state != "cancelled":
                await self.batches.set_state(conn, batch_id, "cancelled")
                log.info("batch_cancelled", batch_id=batch_id)
        return await self.get(batch_id)

    # --- used by UploadService inside its transactions ---------------------------------

    async def check_joinable(self, batch_id: str, conn: Any = None) -> Batch:
        """Raise unless the batch accepts another file. With `conn`, the caller holds the lock."""
        batch = await (self.batches.lock(conn, batch_id) if conn is not None else self.batches.get(batch_id))
        if batch is None:
            raise BatchNotJoinable(f"unknown batch {batch_id!r}")
        if batch.state != "open":
            raise BatchNotJoinable(f"batch {batch_id!r} is {batch.state} and accepts no more files")
        if (
            batch.expected_files is not None
            and conn is not None
            and await self.batches.file_count(conn, batch_id) >= batch.expected_files
        ):
            raise BatchNotJoinable(f"batch {batch_id!r} already has its {batch.expected_files} files")
        return batch

    async def complete_in(self, conn: Any, batch_id: str) -> bool:
        """Within the caller's transaction (batch row locked): record completion once, with its event."""
        done = await self.batches.complete_if_done(conn, batch_id)
        if done is None:
            return False
        files = await self.batches.files(batch_id, conn)
        await add_events(conn, [emit.batch_completed(done, files)])
        log.info("batch_completed", batch_id=batch_id)
        return True
