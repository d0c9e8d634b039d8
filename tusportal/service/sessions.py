"""SessionService: sign-in, sign-out, registration and password changes for browser sessions, with
the login throttle. Knows no HTTP: the web layer turns a `Login` into a cookie.

The throttle (tusportal.auth.throttle) is checked before a password is verified, so a blocked
attacker costs no scrypt work, and it counts failures for unknown emails exactly as for known ones.
A successful login clears its account's count; the address count only ages out, so one valid account
cannot be used to keep guessing others from the same address. An unknown email still costs one
scrypt verification, so the answer takes as long as for a wrong password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from tusportal import auth
from tusportal.errors import InvalidRequestBody, TusError
from tusportal.service.accounts import AccountService
from tusportal.state.accounts import User
from tusportal.state.login_failures import ACCOUNT, ADDRESS, LoginFailureRepository
from tusportal.state.sessions import SessionRepository

log = structlog.get_logger(__name__)


class LoginFailed(TusError):
    status = 400
    code = "login_failed"
    message = "wrong email or password"


class LoginThrottled(TusError):
    status = 429
    code = "too_many_login_attempts"
    message = "too many failed sign-in attempts; try again later"


class CurrentPasswordWrong(TusError):
    status = 400
    code = "current_password_wrong"
    message = "the current password is wrong"


@dataclass(frozen=True)
class SessionConfig:
    idle_seconds: float = 86400.0
    absolute_seconds: float = 7 * 86400.0
    limits: auth.LoginLimits = field(default_factory=auth.LoginLimits)


@dataclass(frozen=True)
class Login:
    cookie: str  # the session cookie's value: give it to the browser, never log it
    principal: auth.Principal


def _principal(user: User) -> auth.Principal:
    return auth.Principal(user.id, user.email, user.is_admin)


class SessionService:
    def __init__(
        self,
        accounts: AccountService,
        sessions: SessionRepository,
        failures: LoginFailureRepository,
        config: SessionConfig | None = None,
    ):
        self.accounts = accounts
        self.sessions = sessions
        self.failures = failures
        self.config = config or SessionConfig()
        self._dummy_hash: str | None = None

    # --- sign-in ---------------------------------------------------------------------------

    async def login(self, email: str, password: str, *, address: str) -> Login:
        """A new session for the user, or LoginFailed (one message for every reason) or
        LoginThrottled (with Retry-After)."""
        account_key, address_key = email.strip().lower()[:320], auth.address_key(address)
        await self._check_throttle(account_key, address_key)
        user = await self.accounts.accounts.user_by_email(account_key) if account_key else None
        stored = user.password_hash if user is not None else await self._dummy()
        matched = await asyncio.to_thread(auth.verify_password, password, stored)
        if user is None or not matched:
            await self._record_failure(account_key, address_key)
            log.info("login_failed", known_user=user is not None, address=address_key)
            raise LoginFailed()
        await self.failures.clear(ACCOUNT, account_key)
        if auth.needs_rehash(user.password_hash):
            await self.accounts.accounts.set_password(
                user.id, await asyncio.to_thread(auth.hash_password, password)
            )
        login = await self._start(user)
        log.info("login_succeeded", user_id=user.id, address=address_key)
        return login

    async def register(self, email: str, password: str, *, address: str) -> Login:
        """Create a (non-admin) user and sign them in. A taken email counts as a failed attempt of
        the address, so registration cannot be used to list accounts quickly."""
        address_key = auth.address_key(address)
        await self._check_throttle("", address_key)
        try:
            user = await self.accounts.create_user(email, password)
        except TusError as exc:
            if exc.status == 409:
                await self.failures.record(
                    ADDRESS, address_key, window_seconds=self.config.limits.window_seconds
                )
            raise
        log.info("user_registered", user_id=user.id)
        return await self._start(user)

    async def _start(self, user: User) -> Login:
        fresh = auth.new_session()
        await self.sessions.create(
            fresh.token_hash,
            user_id=user.id,
            idle_seconds=self.config.idle_seconds,
            absolute_seconds=self.config.absolute_seconds,
        )
        return Login(fresh.cookie, _principal(user))

    # --- a session in use ------------------------------------------------------------------

    async def resolve(self, cookie: str) -> auth.Principal | None:
        """The user of a live session cookie (its idle deadline moves forward), else None."""
        if not auth.looks_like_session(cookie):
            return None
        user = await self.sessions.touch(auth.session_hash(cookie), idle_seconds=self.config.idle_seconds)
        return _principal(user) if user is not None else None

    async def logout(self, cookie: str) -> bool:
        ended = auth.looks_like_session(cookie) and await self.sessions.delete(auth.session_hash(cookie))
        if ended:
            log.info("logout")
        return ended

    async def change_password(
        self, who: auth.Principal, current: str, new: str, *, keep_cookie: str | None
    ) -> int:
        """Set a new password after checking the current one; ends every other session of the user
        (the one whose cookie is `keep_cookie` stays). Returns how many sessions ended."""
        await self._check_throttle(who.email, None)
        user = await self.accounts.accounts.user_by_id(who.user_id)
        if user is None:
            raise CurrentPasswordWrong()
        if not await asyncio.to_thread(auth.verify_password, current, user.password_hash):
            await self.failures.record(ACCOUNT, user.email, window_seconds=self.config.limits.window_seconds)
            log.info("password_change_refused", user_id=user.id)
            raise CurrentPasswordWrong()
        try:
            hashed = await asyncio.to_thread(auth.hash_password, new)
        except auth.WeakPassword as exc:
            raise InvalidRequestBody(str(exc)) from None
        await self.accounts.accounts.set_password(user.id, hashed)
        keep = None
        if keep_cookie and auth.looks_like_session(keep_cookie):
            keep = auth.session_hash(keep_cookie)
        ended = await self.sessions.delete_of_user(user.id, keep=keep)
        log.info("password_changed", user_id=user.id, sessions_ended=ended)
        return ended

    # --- the throttle ----------------------------------------------------------------------

    async def _check_throttle(self, account_key: str, address_key: str | None) -> None:
        limits = self.config.limits
        waits = []
        for count in await self.failures.counts(account=account_key, address=address_key or ""):
            if not (account_key if count.kind == ACCOUNT else address_key):
                continue
            limit = limits.per_account if count.kind == ACCOUNT else limits.per_address
            wait = auth.retry_after(
                count.failures, count.window_age_seconds, limit=limit, window_seconds=limits.window_seconds
            )
            if wait is not None:
                waits.append(wait)
        if waits:
            log.info("login_throttled", retry_after=max(waits), address=address_key)
            raise LoginThrottled(headers={"Retry-After": str(max(waits))})

    async def _record_failure(self, account_key: str, address_key: str) -> None:
        window = self.config.limits.window_seconds
        if account_key:
            await self.failures.record(ACCOUNT, account_key, window_seconds=window)
        await self.failures.record(ADDRESS, address_key, window_seconds=window)

    async def _dummy(self) -> str:
        """A hash to verify against for an unknown email (made once, off the event loop)."""
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(auth.hash_password, auth.new_csrf_secret())
        return self._dummy_hash
