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

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


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
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return response
