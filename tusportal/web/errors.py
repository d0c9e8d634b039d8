"""One handler for TusError and its subclasses; a last-resort handler that never leaks details."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tusportal.errors import TusError

log = structlog.get_logger(__name__)


async def tus_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TusError)
    headers = {"X-Tus-Error": exc.code, **exc.headers}
    if exc.status >= 500:
        log.warning("request_failed", code=exc.code, status=exc.status, path=request.url.path)
    body = "" if request.method == "HEAD" else exc.detail + "\n"
    return PlainTextResponse(body, status_code=exc.status, headers=headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected_error", path=request.url.path, method=request.method)
    return PlainTextResponse("internal server error\n", status_code=500)
