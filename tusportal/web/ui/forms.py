"""Reading what a browser sends to the pages: form fields (parsed by tusportal.web.forms, which the
CSRF check shares) and query parameters. Bad values raise `InvalidForm` (400), which the page
wrapper renders as an error page.
"""

from __future__ import annotations

from starlette.requests import Request

from tusportal.errors import InvalidRequestBody
from tusportal.web import forms, redirects


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
    if not forms.is_form(request.headers.get("content-type")):
        raise InvalidForm("the form must be sent as application/x-www-form-urlencoded")
    return Form(await forms.read_form_pairs(request))


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
    return redirects.local_path(value, default)
