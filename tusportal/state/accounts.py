"""Users and API tokens. All account SQL lives here; the decisions (hashing, permissions) are in
tusportal.auth. Emails are compared lower-cased."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tusportal.state.db import Database

USER_COLUMNS = "id, email, password_hash, is_admin, created_at"
_DEAD = "revoked_at IS NOT NULL OR expires_at <= now()"
_TOKEN = "id, user_id, name, created_at, expires_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    """A token's record; never the token itself, nor its hash."""

    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def _user(row: tuple[Any, ...] | None) -> User | None:
    return User(*row) if row is not None else None


class AccountRepository:
    def __init__(self, db: Database):
        self.db = db

    # --- users ----------------------------------------------------------------------------

    async def create_user(
        self, user_id: str, *, email: str, password_hash: str, is_admin: bool = False
    ) -> User | None:
        """The new user, or None when the email is taken."""
        return _user(
            await self.db.fetchone(
                f"INSERT INTO users (id, email, password_hash, is_admin) VALUES (%s, lower(%s), %s, %s)"
                f" ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}",
                (user_id, email, password_hash, is_admin),
            )
        )

    async def user_by_email(self, email: str) -> User | None:
        return _user(
            await self.db.fetchone(f"SELECT {USER_COLUMNS} FROM users WHERE email = lower(%s)", (email,))
        )

    async def user_by_id(self, user_id: str) -> User | None:
        return _user(await self.db.fetchone(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,)))

    async def set_password(self, user_id: str, password_hash: str) -> bool:
        count = await self.db.execute(
            "UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id)
        )
        return count == 1

    # --- tokens ---------------------------------------------------------------------------

    async def create_token(
        self,
        token_id: str,
        *,
        user_id: str,
        name: str,
        token_hash: str,
        expires_in_days: float | None = None,
    ) -> ApiToken:
        row = await self.db.fetchone(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + %s::float8 * interval '1 day')"  # NULL days: never
            f" RETURNING {_TOKEN}",
            (token_id, user_id, name, token_hash, expires_in_days),
        )
        assert row is not None
        return ApiToken(*row)

    async def tokens_of(self, user_id: str) -> list[ApiToken]:
        rows = await self.db.fetchall(
            f"SELECT {_TOKEN} FROM api_tokens WHERE user_id = %s ORDER BY created_at, id", (user_id,)
        )
        return [ApiToken(*r) for r in rows]

    async def all_tokens(self) -> list[ApiToken]:
        rows = await self.db.fetchall(f"SELECT {_TOKEN} FROM api_tokens ORDER BY created_at, id")
        return [ApiToken(*r) for r in rows]

    async def revoke_token(self, token_id: str, *, user_id: str | None = None) -> bool:
        """Revoke a token (of `user_id` only, when given); False when there is no such live token."""
        count = await self.db.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL"
            " AND (%s::text IS NULL OR user_id = %s)",
            (token_id, user_id, user_id),
        )
        return count == 1

    async def user_for_token(self, token_hash: str) -> User | None:
        """The owner of a live (not revoked, not expired) token, stamping its last use; one statement."""
        return _user(
            await self.db.fetchone(
                "WITH used AS (UPDATE api_tokens SET last_used_at = now() WHERE token_hash = %s"
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
                " RETURNING user_id)"
                f" SELECT {', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))}"
                " FROM users u JOIN used ON used.user_id = u.id",
                (token_hash,),
            )
        )

    # --- cleanup --------------------------------------------------------------------------

    async def dead_tokens(self) -> list[str]:
        """Ids of tokens that can never work again: expired or revoked."""
        rows = await self.db.fetchall(f"SELECT id FROM api_tokens WHERE {_DEAD} ORDER BY id")
        return [r[0] for r in rows]

    async def remove_dead_tokens(self) -> list[str]:
        rows = await self.db.fetchall(f"DELETE FROM api_tokens WHERE {_DEAD} RETURNING id")
        return sorted(r[0] for r in rows)
