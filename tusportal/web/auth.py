"""Bearer-token authentication (TUSPORTAL_AUTH=required) and the helpers handlers use to authorize.

`BearerAuth` is raw ASGI, cheap on the tus hot path: a resolved token is cached for a few seconds
(so a revoked or expired token stops working within `cache_seconds`), and the caller's `Principal`
goes into `scope["state"]["principal"]` (Starlette's `request.state.principal`). OPTIONS and the
health and metrics endpoints stay open. Without auth the middleware is not installed at all and
`principal(request)` is None, which every permission check reads as "anonymous mode, allowed".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tusportal import auth
from tusportal.auth import Principal

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
Resolve = Callable[[str], Awaitable[Principal | None]]


class BearerAuth:
    def __init__(
        self, app: ASGIApp, resolve: Resolve, *, cache_seconds: float = 5.0, max_cached: int = 10_000
    ):
        self.app = app
        self.resolve = resolve
        self.cache_seconds = cache_seconds
        self.max_cached = max_cached
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        token = auth.bearer_token(header)
        if token is None:
            await _unauthorized(scope, send, "this server needs an API token: Authorization: Bearer <token>")
            return
        found = await self._principal(token)
        if found is None:
            await _unauthorized(scope, send, "the API token is unknown, revoked or expired", invalid=True)
            return
        scope.setdefault("state", {})["principal"] = found
        await self.app(scope, receive, send)

    async def _principal(self, token: str) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.resolve(token)
        if len(self._cache) >= self.max_cached:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
        # unknown tokens are remembered only briefly: enough to blunt a retry loop
        self._cache[token] = (found, now + (self.cache_seconds if found is not None else 1.0))
        return found


async def _unauthorized(scope: Scope, send: Send, message: str, *, invalid: bool = False) -> None:
    challenge = 'Bearer realm="tusportal"' + (', error="invalid_token"' if invalid else "")
    body = b"" if scope["method"] == "HEAD" else (message + "\n").encode()
    headers = [
        (b"www-authenticate", challenge.encode()),
        (b"x-tus-error", b"unauthorized"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
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
