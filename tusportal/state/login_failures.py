"""The login throttle's counters (table login_failures): failed logins per account and per client
address in the current window. The decisions (when to refuse) are in tusportal.auth.throttle; this
module only counts, atomically, so concurrent failures on several instances all count."""

from __future__ import annotations

from dataclasses import dataclass

from tusportal.state.db import Database

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class FailureCount:
    kind: str
    failures: int
    window_age_seconds: float


class LoginFailureRepository:
    def __init__(self, db: Database):
        self.db = db

    async def counts(self, *, account: str, address: str) -> list[FailureCount]:
        rows = await self.db.fetchall(
            "SELECT kind, failures, extract(epoch FROM now() - window_started_at)::float8"
            " FROM login_failures WHERE (kind = 'account' AND key = %s) OR (kind = 'address' AND key = %s)",
            (account, address),
        )
        return [FailureCount(*row) for row in rows]

    async def record(self, kind: str, key: str, *, window_seconds: float) -> FailureCount:
        """Count one failure; a window that has lapsed starts again at this failure."""
        lapsed = "f.window_started_at <= now() - make_interval(secs => %(window)s::float8)"
        row = await self.db.fetchone(
            "INSERT INTO login_failures AS f (kind, key, failures) VALUES (%(kind)s, %(key)s, 1)"
            " ON CONFLICT (kind, key) DO UPDATE SET"
            f"  failures = CASE WHEN {lapsed} THEN 1 ELSE f.failures + 1 END,"
            f"  window_started_at = CASE WHEN {lapsed} THEN now() ELSE f.window_started_at END"
            " RETURNING kind, failures, extract(epoch FROM now() - window_started_at)::float8",
            {"kind": kind, "key": key, "window": window_seconds},
        )
        assert row is not None
        return FailureCount(*row)

    async def clear(self, kind: str, key: str) -> None:
        await self.db.execute("DELETE FROM login_failures WHERE kind = %s AND key = %s", (kind, key))

    async def lapsed_count(self, *, window_seconds: float) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) FROM login_failures"
            " WHERE window_started_at <= now() - make_interval(secs => %s::float8)",
            (window_seconds,),
        )
        return int(row[0]) if row else 0

    async def remove_lapsed(self, *, window_seconds: float) -> int:
        """Counters whose window is over count for nothing any more."""
        return await self.db.execute(
            "DELETE FROM login_failures WHERE window_started_at <= now() - make_interval(secs => %s::float8)",
            (window_seconds,),
        )
