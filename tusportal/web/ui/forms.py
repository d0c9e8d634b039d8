"""Reading what a browser sends: url-encoded form bodies and query parameters.

Forms are parsed here (no multipart library needed: every UI form is url-encoded). Bad values raise
`InvalidForm` (400), which the page wrapper renders as an error page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from tusportal.errors import InvalidRequestBody

MAX_FORM_BYTES = 64 * 1024


class InvalidForm(InvalidRequestBody):
    code = "invalid_form"


class Form:
    """The fields of a url-encoded body; repeated fields keep every value."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


async def read_form(request: Request) -> Form:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise InvalidForm("the form must be sent as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidForm("form larger than 64 KiB")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidForm("the form is not valid UTF-8") from None
    return Form(parse_qsl(text, keep_blank_values=True))


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidForm(f"{name} must be a whole number in {low}..{high}")
    return int(raw)


def query_text(request: Request, name: str) -> str | None:
    """A query parameter, stripped; None when absent or empty."""
    value = request.query_params.get(name, "").strip()
    return value or None


def local_path(value: str, default: str) -> str:
    """A redirect target from a form: only a path on this site ('/...', never '//host')."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default
