"""Parallel uploads: the concatenation and concatenation-unfinished extensions.

A final upload is created from partial uploads (finished or not). It is assembled once every
partial has finished — right away when they already have, otherwise by the PATCH that finishes the
last one — under the final's lease, so two assemblers never race. Assembly writes the final's
object completely and durably before the final is committed as finished; a crash in between
leaves an active final whose parts are all finished, which start-up recovery (and any HEAD on the
final) assembles again. Assembly is idempotent. Partial uploads are not files: they emit no
file.uploaded event, and once no unfinished final needs them their bytes are removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from tusportal.errors import InvalidFinal, PartialNotFound, TusError, UploadLocked
from tusportal.logging import upload_context
from tusportal.state.uploads import Upload
from tusportal.storage.base import Concatenator, Terminator

if TYPE_CHECKING:
    from tusportal.service.core import UploadService

log = structlog.get_logger(__name__)


def _not_interruptible() -> None:
    """An assembly runs to its end when another request asks for the final's lease."""


class Concatenation:
    def __init__(self, service: UploadService):
        self.service = service
        self._background: set[asyncio.Task[Upload | None]] = set()

    def assemble_soon(self, final_id: str) -> None:
        """Try an assembly in the background (a HEAD must not wait for one)."""
        task = asyncio.create_task(self._assemble_quietly(final_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def supported(self) -> bool:
        return isinstance(self.service.store, Concatenator)

    async def check_parts(self, part_ids: list[str]) -> tuple[list[Upload], int]:
        """Validate the parts of a new final upload; returns them (in order) and the total length.
        Nothing is changed by a rejected final."""
        if not part_ids:
            raise InvalidFinal("a final upload needs at least one partial upload")
        found = await self.service.uploads.get_many(list(set(part_ids)))
        parts = []
        for part_id in part_ids:
            part = found.get(part_id)
            if part is None or part.state == "terminated":
                raise PartialNotFound(f"partial upload {part_id!r} does not exist")
            if part.concat_kind != "partial":
                raise InvalidFinal(f"upload {part_id!r} is not a partial upload (Upload-Concat: partial)")
            if part.state == "expired" or (part.state == "active" and part.expired):
                raise InvalidFinal(f"partial upload {part_id!r} has expired")
            if part.length is None:
                raise InvalidFinal(f"partial upload {part_id!r} has a deferred length; declare it first")
            parts.append(part)
        total = sum(p.length or 0 for p in parts)
        self.service._check_size(total)
        return parts, total

    async def _assemble_quietly(self, final_id: str) -> Upload | None:
        try:
            return await self.assemble_if_ready(final_id, wait=False)
        except TusError as exc:  # the recovery sweep tries again
            log.warning("assembly_failed", upload_id=final_id, error=exc.code)
            return None

    async def assemble_if_ready(self, final_id: str, *, wait: bool = True) -> Upload | None:
        """Assemble the final when all of its parts are finished; returns it when it is finished.
        Without `wait`, a final that someone else holds is left to them (or the next sweep)."""
        service = self.service
        if wait:
            try:
                final, token = await service.locks.acquire(final_id)
            except UploadLocked:
                return None  # someone else holds it: they (or the recovery sweep) finish the job
        else:
            taken = await service.locks.try_acquire(final_id)
            if taken is None:
                return None
            final, token = taken
        committed = False
        try:
            if final.state == "finished":
                return final
            if final.state != "active" or final.concat_kind != "final":
                return None
            ids = list(final.concat_parts or [])
            found = await service.uploads.get_many(list(set(ids)))
            if any(found.get(i) is None or found[i].state != "finished" for i in ids):
                return None
            store = service.store
            assert isinstance(store, Concatenator)
            # The heartbeat renews the lease while the parts are copied and hashed, which may take
            # longer than the lease (big files, S3): otherwise a HEAD, the recovery sweep or another
            # instance would take it over and start a second assembly of the same final. Nothing
            # interrupts an assembly (a final takes no PATCH); a request that wants the lease waits.
            with service.locks.hold(final_id, token, _not_interruptible):
                state = await store.concatenate(
                    final.storage_key,
                    [(found[i].storage_key, found[i].storage_state) for i in ids],
                    service.config.concat_pause_seconds,
                )
                length, kept = final.length or 0, state or final.storage_state
                done = dataclasses.replace(final, offset=length, state="finished", storage_state=kept)
                digest = await service.sha256_of(done)
                result = await service._release(
                    final,
                    token,
                    offset=length,
                    finished=True,
                    state=state,
                    events=[service._file_uploaded(done, digest)],
                )
            committed = True
            log.info("upload_assembled", upload_id=final_id, parts=len(ids), length=final.length)
        finally:
            if not committed:
                await service.uploads.release(final_id, token)
        await self.remove_consumed()
        return result

    async def on_partial_finished(self, partial_id: str) -> None:
        for final_id in await self.service.uploads.finals_waiting_on(partial_id):
            await self.assemble_if_ready(final_id)

    async def recover(self) -> int:
        """Finish assemblies that a crash cut short (the lease of a dead assembler lapses first)."""
        count = 0
        for final_id in await self.service.uploads.finals_ready():
            if await self.assemble_if_ready(final_id, wait=False) is not None:
                count += 1
        if count:
            log.info("assemblies_recovered", count=count)
        return count

    async def recover_forever(self, interval: float) -> None:
        """Run `recover` at start-up and then every `interval` seconds."""
        while True:
            try:
                await self.recover()
            except TusError as exc:  # database or storage briefly unavailable: try again later
                log.warning("assembly_recovery_failed", error=exc.code)
            await asyncio.sleep(interval)

    async def remove_consumed(
        self, *, dry_run: bool = False, on_removed: Callable[[Upload], None] | None = None
    ) -> list[str]:
        """Remove the bytes of partial uploads that no unfinished final needs any more; `on_removed`
        is told of each one as it goes."""
        removed = []
        for part in await self.service.uploads.partials_done_with():
            with upload_context(part.id, part.owner_id):
                if not dry_run:
                    if not await self.service.uploads.mark_consumed(part.id):
                        continue
                    if isinstance(self.service.store, Terminator):
                        await self.service.store.delete(part.storage_key, part.storage_state)
                removed.append(part.id)
                if on_removed is not None:
                    on_removed(part)
        return removed
