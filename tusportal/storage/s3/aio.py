"""Async face of the S3 client: every call runs in the store's thread pool, off the event loop,
plus the few compound operations the writer and the store share."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tusportal.storage.s3.cache import PieceCache
from tusportal.storage.s3.client import S3Client, StorageInconsistent
from tusportal.storage.s3.layout import Piece

T = TypeVar("T")


class AsyncS3:
    def __init__(
        self,
        client: S3Client,
        executor: ThreadPoolExecutor,
        pending_prefix: str,
        cache: PieceCache | None = None,
    ):
        self.client = client
        self.executor = executor
        self.pending_prefix = pending_prefix  # e.g. "uploads/.pending/"
        self.cache = cache if cache is not None else PieceCache(0)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def pending_dir(self, key: str) -> str:
        return f"{self.pending_prefix}{key}/"

    def piece_name(self, key: str, start: int) -> str:
        # unique per writer: a crashed writer's pieces can never be mistaken for committed ones
        return f"{self.pending_dir(key)}{start:015d}-{secrets.token_hex(6)}"

    async def fetch(self, pieces: list[Piece]) -> list[bytes]:
        """The bytes of pieces: from this instance's cache, or fetched concurrently."""
        if not pieces:
            return []
        cached = [self.cache.get(p.name, p.size) for p in pieces]
        missing = [p for p, data in zip(pieces, cached, strict=True) if data is None]
        fetched = iter(
            await asyncio.gather(*(self.run(self.client.get_range, p.name, 0, p.size) for p in missing))
        )
        datas = [data if data is not None else next(fetched) for data in cached]
        for piece, data in zip(pieces, datas, strict=True):
            if len(data) != piece.size:
                raise StorageInconsistent(f"piece {piece.name} holds {len(data)} of {piece.size} bytes")
        return datas

    async def put_piece(self, key: str, start: int, data: bytes) -> Piece:
        name = self.piece_name(key, start)
        await self.run(self.client.put_object, name, data, None)
        self.cache.put(name, data)
        return Piece(name, start, len(data))

    async def delete(self, names: list[str]) -> None:
        self.cache.discard(names)
        unique = sorted(set(names))
        for i in range(0, len(unique), 1000):
            await self.run(self.client.delete_objects, unique[i : i + 1000])


def joined(pieces: list[bytes], chunks: list[bytes]) -> bytes:
    """One contiguous body for an S3 request (minio signs and sends `bytes`)."""
    if not pieces and len(chunks) == 1:
        return bytes(chunks[0])
    return b"".join([*pieces, *chunks])
