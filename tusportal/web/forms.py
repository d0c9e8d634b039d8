"""HTML form bodies, parsed without python-multipart: `application/x-www-form-urlencoded` and
`multipart/form-data` (text fields only). Used by the CSRF check in the auth middleware and by the
page handlers (`await read_form(request)`); forms here are small, so a body is read whole, up to
`FORM_LIMIT` bytes."""

from __future__ import annotations

import email.parser
import email.policy
from urllib.parse import parse_qsl

from starlette.requests import Request

from tusportal.errors import InvalidRequestBody, TusError

FORM_LIMIT = 64 * 1024
# the content types a browser may send cross-site without asking first (no CORS preflight)
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


class FormTooLarge(TusError):
    status = 413
    code = "form_too_large"
    message = f"a form body is limited to {FORM_LIMIT // 1024} KiB"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_form(content_type: str | None) -> bool:
    return media_type(content_type) in FORM_TYPES


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The fields of a form body (the first value of each name); {} for other content types."""
    fields: dict[str, str] = {}
    for name, value in parse_pairs(content_type, body):
        fields.setdefault(name, value)
    return fields


def parse_pairs(content_type: str | None, body: bytes) -> list[tuple[str, str]]:
    """Every (name, value) of a form body, repeated names included; [] for other content types."""
    kind = media_type(content_type)
    try:
        if kind == "application/x-www-form-urlencoded":
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        if kind == "multipart/form-data":
            return _multipart(content_type or "", body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestBody(f"the form body cannot be read: {exc}") from None
    return []


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("multipart/form-data without a boundary")
    fields: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue  # files are not form fields here
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields.append((name, payload.decode(part.get_content_charset() or "utf-8")))
    return fields


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields; 413 past FORM_LIMIT, 400 when unreadable."""
    return parse_form(request.headers.get("content-type"), await read_body(request))


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """Every (name, value) of the request's form, repeated names included."""
    return parse_pairs(request.headers.get("content-type"), await read_body(request))


async def read_body(request: Request) -> bytes:
    """A form's body, whole; 413 past FORM_LIMIT."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        raise FormTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormTooLarge()
    return body
