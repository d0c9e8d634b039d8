"""Browser sessions: the SQL. A row is keyed by the SHA-256 of the session cookie (the cookie itself
is never stored). `expires_at` is the idle deadline: each use moves it to now + idle time, but never
past `absolute_expires_at`. An expired row is dead at once and removed by the cleanup job."""

from __future__ import annotations

from tusportal.state.accounts import USER_COLUMNS, User
from tusportal.state.db import Database

_QUALIFIED_USER = ", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))


class SessionRepository:
    def __init__(self, db: Database):
        self.db = db

    async def create(
        self, token_hash: str, *, user_id: str, idle_seconds: float, absolute_seconds: float
    ) -> None:
        await self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at)"
            " VALUES (%(hash)s, %(user)s,"
            "  now() + make_interval(secs => least(%(idle)s::float8, %(absolute)s::float8)),"
            "  now() + make_interval(secs => %(absolute)s::float8))",
            {"hash": token_hash, "user": user_id, "idle": idle_seconds, "absolute": absolute_seconds},
        )

    async def touch(self, token_hash: str, *, idle_seconds: float) -> User | None:
        """The user of a live session, pushing its idle deadline forward; None when the session is
        unknown or has expired. One statement."""
        row = await self.db.fetchone(
            "WITH live AS (UPDATE sessions SET last_seen_at = now(),"
            "   expires_at = least(now() + make_interval(secs => %(idle)s::float8), absolute_expires_at)"
            "   WHERE token_hash = %(hash)s AND expires_at > now() RETURNING user_id)"
            f" SELECT {_QUALIFIED_USER} FROM users u JOIN live ON live.user_id = u.id",
            {"hash": token_hash, "idle": idle_seconds},
        )
        return User(*row) if row is not None else None

    async def delete(self, token_hash: str) -> bool:
        return await self.db.execute("DELETE FROM sessions WHERE token_hash = %s", (token_hash,)) == 1

    async def delete_of_user(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of a user, except the one whose hash is `keep`; returns how many."""
        return await self.db.execute(
            "DELETE FROM sessions WHERE user_id = %s AND token_hash IS DISTINCT FROM %s", (user_id, keep)
        )

    async def count_of_user(self, user_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) FROM sessions WHERE user_id = %s AND expires_at > now()", (user_id,)
        )
        return int(row[0]) if row else 0

    async def expired_count(self) -> int:
        row = await self.db.fetchone("SELECT count(*) FROM sessions WHERE expires_at <= now()")
        return int(row[0]) if row else 0

    async def remove_expired(self) -> int:
        return await self.db.execute("DELETE FROM sessions WHERE expires_at <= now()")
