"""Helpers shared by the S3 store's test modules (imported by name, like tests/cli_support.py)."""

from __future__ import annotations

from tusportal.storage.base import StoreState
from tusportal.storage.s3 import S3Store


async def append(
    store: S3Store, key: str, offset: int, data: bytes, state: StoreState | None, chunk: int = 256 * 1024
) -> tuple[int, StoreState | None]:
    """One PATCH's worth through a writer of `store`: (bytes written, the state to commit)."""
    writer = store.writer(key, offset, None, state)
    try:
        for i in range(0, len(data), chunk):
            await writer.write(data[i : i + chunk])
        written = await writer.flush()
    finally:
        await writer.close()
    return written, writer.state
