"""AccountService: users and API tokens, for the CLI, the web middleware, the UI and the JSON API.

Hashing and permission rules are pure functions in tusportal.auth; the SQL is in state/accounts.py.
"""

from __future__ import annotations

import asyncio
import secrets

import structlog

from tusportal import auth
from tusportal.errors import InvalidRequestBody, TusError
from tusportal.state.accounts import AccountRepository, ApiToken, User

log = structlog.get_logger(__name__)


class EmailTaken(TusError):
    status = 409
    code = "email_taken"
    message = "an account with this email exists"


class UserNotFound(TusError):
    status = 404
    code = "user_not_found"
    message = "no such user"


class TokenNotFound(TusError):
    status = 404
    code = "token_not_found"
    message = "no such live token"


def check_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidRequestBody(f"{email!r} is not an email address")
    return email


class AccountService:
    def __init__(self, accounts: AccountRepository):
        self.accounts = accounts

    async def create_user(self, email: str, password: str, *, is_admin: bool = False) -> User:
        email = check_email(email)
        try:
            auth.check_strength(password)
        except auth.WeakPassword as exc:
            raise InvalidRequestBody(str(exc)) from None
        # scrypt takes tens of milliseconds of CPU: off the event loop
        hashed = await asyncio.to_thread(auth.hash_password, password)
        user = await self.accounts.create_user(
            "u_" + secrets.token_urlsafe(12), email=email, password_hash=hashed, is_admin=is_admin
        )
        if user is None:
            raise EmailTaken()
        log.info("user_created", user_id=user.id, is_admin=is_admin)
        return user

    async def create_token(
        self, email: str, *, name: str, expires_in_days: float | None = None
    ) -> tuple[ApiToken, str]:
        """A new token for the user with this email (the CLI); see `create_token_for`."""
        user = await self.accounts.user_by_email(email)
        if user is None:
            raise UserNotFound(f"no user with the email {email!r}")
        return await self.create_token_for(user.id, name=name, expires_in_days=expires_in_days)

    async def create_token_for(
        self, user_id: str, *, name: str, expires_in_days: float | None = None
    ) -> tuple[ApiToken, str]:
        """A new token for the user; returns its record and the token, which is never shown again."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidRequestBody("a token needs a name of 1 to 200 characters")
        if expires_in_days is not None and not 0 < expires_in_days <= 36500:
            raise InvalidRequestBody("expiry must be between 0 and 36500 days")
        fresh = auth.new_token()
        record = await self.accounts.create_token(
            "tok_" + secrets.token_urlsafe(9),
            user_id=user_id,
            name=name,
            token_hash=fresh.token_hash,
            expires_in_days=expires_in_days,
        )
        log.info("token_created", user_id=user_id, token_id=record.id)
        return record, fresh.token

    async def tokens_for(self, user_id: str | None) -> list[ApiToken]:
        """The tokens of one user; every user's when `user_id` is None (an admin's listing)."""
        if user_id is None:
            return await self.accounts.all_tokens()
        return await self.accounts.tokens_of(user_id)

    async def tokens_of(self, email: str) -> list[ApiToken]:
        user = await self.accounts.user_by_email(email)
        if user is None:
            raise UserNotFound(f"no user with the email {email!r}")
        return await self.accounts.tokens_of(user.id)

    async def revoke_token(self, token_id: str, *, user_id: str | None = None) -> None:
        """Revoke a live token (only one of `user_id`'s, when given); servers stop accepting it
        within their cache time."""
        if not await self.accounts.revoke_token(token_id, user_id=user_id):
            raise TokenNotFound()
        log.info("token_revoked", token_id=token_id)

    async def principal_for_token(self, token: str) -> auth.Principal | None:
        """The user a live token belongs to, or None (malformed, unknown, revoked or expired)."""
        if not auth.looks_like_token(token):
            return None
        user = await self.accounts.user_for_token(auth.hash_token(token))
        if user is None:
            return None
        return auth.Principal(user.id, user.email, user.is_admin)
