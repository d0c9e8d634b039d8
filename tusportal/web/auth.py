"""Authentication and CSRF protection (one raw-ASGI middleware), and the helpers handlers use to
authorize.

With `TUSPORTAL_AUTH=required`, `Authentication` resolves the caller from either credential:

- `Authorization: Bearer tp_...` (scripts, tus clients): no CSRF token needed, since a browser never
  attaches this header on its own;
- the `tusportal_session` cookie (the browser UI, Uppy): every unsafe method (anything but GET, HEAD
  and OPTIONS, judged after X-HTTP-Method-Override) must carry the session's CSRF token as the
  `X-CSRF-Token` header or, for form bodies only, as the `csrf_token` field; otherwise 403. Other
  bodies (a tus PATCH) are never read here.

It puts the `Principal` in `scope["state"]["principal"]`, and for cookie sessions the CSRF token in
`scope["state"]["csrf_token"]` (what `tusportal.web.ui.render` prints into pages). A request without
credentials gets a 303 to `/login?next=...` when it is a GET or HEAD of a UI page, and 401 otherwise;
`/login`, `/register`, `/logout`, `/static/`, OPTIONS and the health and metrics endpoints are open.

Without a session (anonymous mode, or the sign-in forms) the CSRF token is derived from a random
`tusportal_csrf` cookie (double submit): an unsafe request with a form content type (those a browser
sends cross-site without a CORS preflight) to a UI path must carry the matching token, and one to any
other path is refused when the browser marks it `Sec-Fetch-Site: cross-site`. JSON and tus requests
are left alone in anonymous mode: there is no credential for another site to borrow.

Resolved credentials are cached for a few seconds per process (`cache_seconds`), so a revoked token
or an ended session stops working within that time on other instances; sign-out and password
changes drop the cache entries of this process at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tusportal import auth
from tusportal.auth import Principal
from tusportal.web import forms
from tusportal.web.redirects import login_url

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SIGN_IN_PATHS = frozenset({"/login", "/register", "/logout"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tusportal_session"
CSRF_COOKIE = "tusportal_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
Resolve = Callable[[str], Awaitable[Principal | None]]
K = TypeVar("K")


class _Cache(Generic[K]):
    """Credential -> principal for a few seconds; unknown credentials only for one second."""

    def __init__(self, seconds: float, max_entries: int):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[K, tuple[Principal | None, float]] = {}

    def get(self, key: K) -> tuple[bool, Principal | None]:
        cached = self._entries.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return True, cached[0]
        return False, None

    def put(self, key: K, found: Principal | None) -> None:
        now = time.monotonic()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[key] = (found, now + (self.seconds if found is not None else 1.0))

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def drop_user(self, user_id: str) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[0] is None or v[0].user_id != user_id}


class Authenticator:
    """Resolves API tokens and session cookies to principals, through a short per-process cache."""

    def __init__(
        self,
        tokens: Resolve,
        sessions: Resolve,
        *,
        cache_seconds: float = 5.0,
        session_idle_seconds: float = 86400.0,
        max_cached: int = 10_000,
    ):
        self._resolve_token = tokens
        self._resolve_session = sessions
        self._tokens: _Cache[str] = _Cache(cache_seconds, max_cached)
        # a session's idle deadline moves only when the database sees it: look often enough
        self._sessions: _Cache[str] = _Cache(min(cache_seconds, session_idle_seconds / 2), max_cached)

    async def bearer(self, token: str) -> Principal | None:
        return await self._lookup(self._tokens, self._resolve_token, token)

    async def session(self, cookie: str) -> Principal | None:
        return await self._lookup(self._sessions, self._resolve_session, cookie)

    def session_ended(self, cookie: str) -> None:
        self._sessions.drop(cookie)

    def sessions_of_user_ended(self, user_id: str) -> None:
        self._sessions.drop_user(user_id)

    @staticmethod
    async def _lookup(cache: _Cache[str], resolve: Resolve, key: str) -> Principal | None:
        hit, found = cache.get(key)
        if hit:
            return found
        found = await resolve(key)
        cache.put(key, found)
        return found


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool = False
    session_max_age: int = 7 * 86400

    def header(self, name: str, value: str, *, max_age: int | None = None) -> tuple[bytes, bytes]:
        """A Set-Cookie header: HttpOnly, SameSite=Lax, Path=/, Secure when configured; an empty
        value with max_age=0 deletes the cookie."""
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return b"set-cookie", "; ".join(parts).encode("latin-1")


class Authentication:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator | None,
        base_path: str,
        cookies: CookiePolicy,
    ):
        self.app = app
        self.authenticator = authenticator  # None: anonymous mode
        self.tus_prefix = base_path if base_path.endswith("/") else base_path + "/"
        self.cookies = cookies

    def _kind(self, path: str, method: str) -> str:
        """tus | api | static | sign-in | page"""
        if path.startswith(self.tus_prefix) or (
            path == self.tus_prefix.rstrip("/") and method not in ("GET", "HEAD")
        ):
            return "tus"
        if path == "/api" or path.startswith("/api/"):
            return "api"
        if path.startswith("/static/"):
            return "static"
        if path in SIGN_IN_PATHS:
            return "sign-in"
        return "page"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        kind = self._kind(path, method)
        if self.authenticator is None and kind in ("tus", "static"):
            await self.app(scope, receive, send)  # anonymous mode: nothing to check (the tus hot path)
            return
        headers = _headers(scope)
        state = scope.setdefault("state", {})
        session_cookie = None
        if self.authenticator is not None:
            authorization = headers.get(b"authorization")
            if authorization is not None:
                await self._bearer(scope, receive, send, authorization)
                return
            session_cookie = _cookies(headers).get(SESSION_COOKIE)
            if session_cookie:
                found = await self.authenticator.session(session_cookie)
                if found is not None:
                    state["principal"] = found
                    state["csrf_token"] = auth.csrf_token_for(session_cookie)
                    await self._checked(scope, receive, send, headers, state["csrf_token"])
                    return
            if kind not in ("sign-in", "static"):
                if method in ("GET", "HEAD") and kind == "page":
                    await self._to_login(scope, send, clear_session=bool(session_cookie))
                    return
                message = (
                    "the session has ended; sign in again"
                    if session_cookie
                    else "sign in, or send an API token: Authorization: Bearer <token>"
                )
                await _deny(scope, send, 401, message)
                return
        await self._without_session(scope, receive, send, headers, kind)

    async def _bearer(self, scope: Scope, receive: Receive, send: Send, authorization: str) -> None:
        assert self.authenticator is not None
        token = auth.bearer_token(authorization)
        if token is None:
            await _deny(scope, send, 401, "this server needs an API token: Authorization: Bearer <token>")
            return
        found = await self.authenticator.bearer(token)
        if found is None:
            await _deny(scope, send, 401, "the API token is unknown, revoked or expired", invalid=True)
            return
        scope["state"]["principal"] = found
        await self.app(scope, receive, send)

    async def _checked(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, str], expected: str
    ) -> None:
        """A cookie-authenticated request: unsafe methods need the session's CSRF token."""
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        read = await _presented_token(scope, receive, send, headers)
        if read is None:
            return
        presented, receive = read
        if not auth.csrf_matches(expected, presented):
            await _csrf_refused(scope, send)
            return
        await self.app(scope, receive, send)

    async def _without_session(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, str], kind: str
    ) -> None:
        """Anonymous mode, or the open sign-in paths: the double-submit `tusportal_csrf` cookie."""
        if kind in ("tus", "static"):
            await self.app(scope, receive, send)
            return
        method, ui = scope["method"], kind in ("page", "sign-in")
        secret = _cookies(headers).get(CSRF_COOKIE)
        fresh = secret is None or not auth.looks_like_csrf_secret(secret)
        if fresh:
            secret = auth.new_csrf_secret()
        assert secret is not None
        expected = auth.csrf_token_for(secret)
        if ui:
            scope["state"]["csrf_token"] = expected
        if method not in SAFE_METHODS and forms.is_form(headers.get(b"content-type")):
            if headers.get(b"sec-fetch-site", "").strip().lower() == "cross-site":
                await _csrf_refused(scope, send)
                return
            if ui and scope["path"] != "/logout":
                read = await _presented_token(scope, receive, send, headers)
                if read is None:
                    return
                presented, receive = read
                if fresh or not auth.csrf_matches(expected, presented):
                    await _csrf_refused(scope, send)
                    return
        if not (ui and fresh):
            await self.app(scope, receive, send)
            return
        cookie = self.cookies.header(CSRF_COOKIE, secret)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), cookie]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _to_login(self, scope: Scope, send: Send, *, clear_session: bool) -> None:
        target = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            target += "?" + query
        headers = [
            (b"location", login_url(target).encode("latin-1")),
            (b"cache-control", b"no-store"),
            (b"content-length", b"0"),
        ]
        if clear_session:
            headers.append(self.cookies.header(SESSION_COOKIE, "", max_age=0))
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[bytes, str]:
    """The request headers this middleware reads (first value of each)."""
    wanted = (b"authorization", b"cookie", b"content-type", CSRF_HEADER, b"sec-fetch-site")
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in wanted and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _cookies(headers: dict[bytes, str]) -> dict[str, str]:
    raw = headers.get(b"cookie")
    return cookie_parser(raw) if raw else {}


async def _buffered_body(receive: Receive) -> bytes | None:
    """The whole (form) body, or None past the form size limit."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body  # the client went away; the app will notice
        body += message.get("body", b"")
        if len(body) > forms.FORM_LIMIT:
            return None
        if not message.get("more_body", False):
            return body


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _csrf_refused(scope: Scope, send: Send) -> None:
    await _deny(
        scope,
        send,
        403,
        "missing or wrong CSRF token: send the page's token as the X-CSRF-Token header or the"
        " csrf_token form field (reload the page to get a fresh one)",
        code="csrf_failed",
    )


async def _presented_token(
    scope: Scope, receive: Receive, send: Send, headers: dict[bytes, str]
) -> tuple[str | None, Receive] | None:
    """The CSRF token a request presents (the header, else a form body's field) and the `receive`
    to pass on (a form body read here is replayed). None: the form was too large, and a 413 went."""
    presented = headers.get(CSRF_HEADER)
    if presented is not None or not forms.is_form(headers.get(b"content-type")):
        return presented, receive
    body = await _buffered_body(receive)
    if body is None:
        await _deny(scope, send, 413, forms.FormTooLarge.message, code="form_too_large")
        return None
    return forms.parse_form(headers.get(b"content-type"), body).get(CSRF_FIELD), _replay(body, receive)


async def _deny(
    scope: Scope, send: Send, status: int, message: str, *, invalid: bool = False, code: str = "unauthorized"
) -> None:
    body = b"" if scope["method"] == "HEAD" else (message + "\n").encode()
    headers = [
        (b"x-tus-error", code.encode()),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        challenge = 'Bearer realm="tusportal"' + (', error="invalid_token"' if invalid else "")
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def principal(request: Request) -> Principal | None:
    """The authenticated caller; None when auth is off (every check then allows)."""
    state = request.scope.get("state")
    return state.get("principal") if state else None


def visible(request: Request, owner_id: str | None) -> bool:
    return auth.can_access(principal(request), owner_id)


class OwnerCache:
    """Upload id -> owner id. An upload's owner never changes, so entries never go stale; the
    cache only bounds memory. Saves a query per PATCH for the owner check."""

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self._owners: dict[str, str | None] = {}

    def get(self, key: str) -> tuple[bool, str | None]:
        if key in self._owners:
            return True, self._owners[key]
        return False, None

    def put(self, key: str, owner_id: str | None) -> None:
        if len(self._owners) >= self.max_entries:
            self._owners.clear()
        self._owners[key] = owner_id
