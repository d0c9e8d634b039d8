"""Pending pieces in PostgreSQL: the `PieceStore` the S3 store can keep small pieces in (see
storage/base.py). One statement per call; psycopg errors become DatabaseUnavailable in db.py."""

from __future__ import annotations

from tusportal.state.db import RELAXED_COMMIT, Database


class PostgresPieceStore:
    def __init__(self, db: Database):
        self.db = db

    async def put(self, owner: str, name: str, data: bytes) -> None:
        # RELAXED_COMMIT: a piece counts only once a state naming it is committed; a crash before
        # that loses a piece that no state names, which is what such a crash means anyway
        await self.db.execute(
            RELAXED_COMMIT + "INSERT INTO pending_pieces (name, owner, data) SELECT %s, %s, %s FROM relaxed"
            " ON CONFLICT (name) DO NOTHING",
            (name, owner, data),
        )

    async def get(self, names: list[str]) -> dict[str, bytes]:
        if not names:
            return {}
        rows = await self.db.fetchall("SELECT name, data FROM pending_pieces WHERE name = ANY(%s)", (names,))
        return {str(name): bytes(data) for name, data in rows}

    async def delete(self, names: list[str]) -> None:
        if names:
            await self.db.execute("DELETE FROM pending_pieces WHERE name = ANY(%s)", (names,))

    async def names(self, owner: str) -> list[str]:
        rows = await self.db.fetchall("SELECT name FROM pending_pieces WHERE owner = %s", (owner,))
        return [str(r[0]) for r in rows]
