"""The server-rendered web UI: Jinja2 templates (templates/) and our own static files (static/).

Contract shared by every page module in this package:
- `render(request, name, context)` renders a template that extends `base.html`; the base layout
  reads `principal` (the signed-in user, or None in anonymous mode) and `csrf_token` (the value every
  state-changing form posts as the `csrf_token` field, and every fetch() made with the session cookie
  sends as the `X-CSRF-Token` header; also printed in `<meta name="csrf-token">`).
- Vendor assets (Uppy, ...) are installed from npm (package.json + lock file) and served from
  `/static/vendor/`; nothing from npm is copied into the repository.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tusportal.errors import TusError
from tusportal.web.ui import display

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


@functools.cache
def templates() -> Jinja2Templates:
    """Loaded at the first page: a server that only takes uploads never imports Jinja2 (3 MiB)."""
    from starlette.templating import Jinja2Templates

    loaded = Jinja2Templates(directory=str(TEMPLATES_DIR))
    filters = {"size": display.size, "when": display.when, "iso": display.iso}
    filters.update(duration=display.duration, percent=display.percent)
    loaded.env.filters.update(filters)
    loaded.env.globals["url_with"] = url_with
    return loaded


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser session ('' when there is none)."""
    state = request.scope.get("state") or {}
    return str(state.get("csrf_token") or "")


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    state = request.scope.get("state") or {}
    values = {"principal": state.get("principal"), "csrf_token": csrf_token(request)}
    values.update(context or {})
    response = templates().TemplateResponse(request, name, values, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None or '' removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = "&".join(f"{k}={_quote(v)}" for k, v in params.items())
    return request.url.path + ("?" + query if query else "")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


Page = Callable[[Request], Awaitable[Response]]


def html_errors(handler: Page) -> Page:
    """A page handler whose TusError (unknown id, bad parameter) becomes an HTML error page with
    the error's status; someone else's resource is reported exactly as an unknown one."""

    @functools.wraps(handler)
    async def page(request: Request) -> Response:
        try:
            return await handler(request)
        except TusError as exc:
            return render(
                request,
                "error.html",
                {"status": exc.status, "detail": exc.detail, "code": exc.code},
                status_code=exc.status,
            )

    return page
