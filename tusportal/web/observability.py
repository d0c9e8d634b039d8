"""Request ids on every log line, request metrics, and the /metrics endpoint."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tusportal import metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_METHODS = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"}


class RequestContext:
    """Binds a request id (X-Request-ID when it is sane, else a new one) to every log line of the
    request, echoes it in the response, and counts the request by method and status."""

    def __init__(self, app: ASGIApp):
        self.app = app
        # new ids: a random per-process prefix and a counter (unique without a syscall per request)
        self._prefix = secrets.token_hex(5)
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if _REQUEST_ID.match(text):
                    request_id = text
                break
        request_id = request_id or f"{self._prefix}{next(self._counter):06x}"
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.HTTP_REQUESTS.labels(method, str(status)).inc()
            metrics.HTTP_DURATION.labels(method).observe(time.perf_counter() - started)


def metrics_endpoint(
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if refresh is not None:
            await refresh()  # gauges read from the database at scrape time (outbox backlog)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return endpoint
