"""Async face of the S3 client: every call runs in the store's thread pool, off the event loop,
plus the few compound operations the writer and the store share.

Pending pieces live in the bucket (objects under `<prefix>.pending/<key>/`) or, when the store was
given a PieceStore, in it (PostgreSQL): their names start with `db:` there, so a state written by
either kind of instance is read correctly by both."""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tusportal.storage.base import PieceStore
from tusportal.storage.s3.background import BackgroundParts
from tusportal.storage.s3.cache import PieceCache
from tusportal.storage.s3.client import ObjectMissing, S3Client, StorageInconsistent, crc32_checksum
from tusportal.storage.s3.layout import Part, Piece

T = TypeVar("T")

DB_PIECE = "db:"  # a piece whose bytes are in the PieceStore, not the bucket


class AsyncS3:
    def __init__(
        self,
        client: S3Client,
        executor: ThreadPoolExecutor,
        pending_prefix: str,
        cache: PieceCache | None = None,
        pieces: PieceStore | None = None,
    ):
        self.client = client
        self.executor = executor
        self.pending_prefix = pending_prefix  # e.g. "uploads/.pending/"
        self.cache = cache if cache is not None else PieceCache(0)
        self.pieces = pieces
        self.background = BackgroundParts()  # parts built from committed pieces (background.py)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        # with the caller's context, so that what the call logs (s3_retry) carries the request's
        # and the upload's ids
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.executor, context.run, fn, *args)

    def pending_dir(self, key: str) -> str:
        return f"{self.pending_prefix}{key}/"

    def piece_name(self, key: str, start: int) -> str:
        # unique per writer: a crashed writer's pieces can never be mistaken for committed ones
        where = f"{DB_PIECE}{key}/" if self.pieces is not None else self.pending_dir(key)
        return f"{where}{start:015d}-{secrets.token_hex(6)}"

    async def fetch(self, pieces: list[Piece]) -> list[bytes]:
        """The bytes of pieces: from this instance's cache, the PieceStore or the bucket."""
        if not pieces:
            return []
        found = {p.name: data for p in pieces if (data := self.cache.get(p.name, p.size)) is not None}
        in_db = [p.name for p in pieces if p.name not in found and p.name.startswith(DB_PIECE)]
        in_bucket = [p for p in pieces if p.name not in found and not p.name.startswith(DB_PIECE)]
        if in_db:
            if self.pieces is None:
                raise StorageInconsistent("this instance has no piece store for the upload's pieces")
            found.update(await self.pieces.get(in_db))
        fetched = await asyncio.gather(
            *(self.run(self.client.get_range, p.name, 0, p.size) for p in in_bucket)
        )
        found.update((p.name, data) for p, data in zip(in_bucket, fetched, strict=True))
        datas = []
        for piece in pieces:
            data = found.get(piece.name)
            if data is None:
                raise ObjectMissing(f"piece {piece.name} is missing")
            if len(data) < piece.size:
                raise StorageInconsistent(f"piece {piece.name} holds {len(data)} of {piece.size} bytes")
            datas.append(data if len(data) == piece.size else data[: piece.size])
        return datas

    async def store_piece(self, key: str, name: str, data: bytes) -> None:
        if name.startswith(DB_PIECE):
            assert self.pieces is not None
            await self.pieces.put(key, name, data)
        else:
            await self.run(self.client.put_object, name, data, None)
        self.cache.put(name, data)

    async def put_piece(self, key: str, start: int, data: bytes) -> Piece:
        name = self.piece_name(key, start)
        await self.store_piece(key, name, data)
        return Piece(name, start, len(data))

    async def leftover_pieces(self, key: str) -> list[str]:
        """Every piece of the upload that exists, referenced or not."""
        listed = await self.run(self.client.list_names, self.pending_dir(key))
        if self.pieces is not None:
            listed += await self.pieces.names(key)
        return listed

    async def delete(self, names: list[str]) -> None:
        self.cache.discard(names)
        in_db = sorted({n for n in names if n.startswith(DB_PIECE)})
        if in_db and self.pieces is not None:
            await self.pieces.delete(in_db)
        unique = sorted({n for n in names if not n.startswith(DB_PIECE)})
        for i in range(0, len(unique), 1000):
            await self.run(self.client.delete_objects, unique[i : i + 1000])


def joined(pieces: list[bytes], chunks: list[bytes]) -> bytes:
    """One contiguous body for an S3 request (minio signs and sends `bytes`)."""
    if not pieces and len(chunks) == 1:
        return bytes(chunks[0])
    return b"".join([*pieces, *chunks])


def upload_joined_part(
    client: S3Client,
    name: str,
    upload_id: str,
    number: int,
    pieces: list[bytes],
    chunks: list[bytes],
    crc32: bool,
) -> Part:
    """Join the bytes and upload them as part `number`, with their CRC-32 when the multipart upload
    was created with CRC-32 checksums (`Layout.checksum`). Blocks: run it on the store's threads."""
    body = joined(pieces, chunks)
    pieces.clear()  # let the chunks go while the part is sent
    chunks.clear()
    checksum = crc32_checksum(body) if crc32 else None
    etag = client.upload_part(name, upload_id, number, body, checksum)
    return Part(number, etag, len(body), checksum)
