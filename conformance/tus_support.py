"""Black-box helpers for talking tus 1.0.0 to any server.

Nothing here imports the server under test: every fact comes from HTTP responses. The
helpers never assert on behaviour (tests do); they only build requests and read headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

TUS_VERSION = "1.0.0"
OFFSET_STREAM = "application/offset+octet-stream"

# RFC 7231 / RFC 9110 preferred date format (IMF-fixdate).
_IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def b64(value: str | bytes) -> str:
    """Base64 of a metadata value, as Upload-Metadata carries it."""
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def encode_metadata(pairs: Mapping[str, str | bytes]) -> str:
    """Serialise metadata the way tus clients do: `key base64,key base64`."""
    return ",".join(f"{key} {b64(value)}" for key, value in pairs.items())


def header_list(value: str | None) -> list[str]:
    """Split a comma-separated header into trimmed, non-empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_http_date(value: str) -> datetime | None:
    """Return the instant of an IMF-fixdate value, or None when it is not one."""
    if not _IMF_FIXDATE.match(value):
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pattern_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking test data of `size` bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def poll(probe: Callable[[], object], *, timeout: float, interval: float = 0.05) -> object | None:
    """Call `probe` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


@dataclass(frozen=True)
class ServerInfo:
    """What the server advertises in its OPTIONS response."""

    status: int
    headers: httpx.Headers
    extensions: frozenset[str]
    versions: tuple[str, ...]
    max_size: int | None
    checksum_algorithms: frozenset[str]

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServerInfo:
        max_size_text = response.headers.get("tus-max-size")
        max_size = int(max_size_text) if max_size_text and max_size_text.isdigit() else None
        return cls(
            status=response.status_code,
            headers=response.headers,
            extensions=frozenset(header_list(response.headers.get("tus-extension"))),
            versions=tuple(header_list(response.headers.get("tus-version"))),
            max_size=max_size,
            checksum_algorithms=frozenset(
                a.lower() for a in header_list(response.headers.get("tus-checksum-algorithm"))
            ),
        )

    def supports(self, extension: str) -> bool:
        return extension in self.extensions


_DEFAULT = object()


@dataclass
class TusClient:
    """Thin tus vocabulary over an httpx.Client. Every method returns the raw response."""

    http: httpx.Client
    endpoint: str
    created: list[str] = field(default_factory=list)

    def _headers(self, headers: Mapping[str, str] | None, resumable: object) -> dict[str, str]:
        out: dict[str, str] = {}
        if resumable is _DEFAULT:
            out["Tus-Resumable"] = TUS_VERSION
        elif resumable is not None:
            out["Tus-Resumable"] = str(resumable)
        out.update(headers or {})
        return out

    def resolve(self, response: httpx.Response) -> str:
        """The absolute upload URL from a creation response's Location (may be relative)."""
        location = response.headers["location"]
        return str(response.request.url.join(location))

    def unknown_url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/{uuid.uuid4().hex}"

    def options(self, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return self.http.request("OPTIONS", self.endpoint, headers=dict(headers or {}))

    def post(
        self,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        *,
        url: str | None = None,
        resumable: object = _DEFAULT,
    ) -> httpx.Response:
        response = self.http.post(
            url or self.endpoint, headers=self._headers(headers, resumable), content=content
        )
        if response.status_code == 201 and "location" in response.headers:
            self.created.append(self.resolve(response))
        return response

    def create(
        self,
        length: int | None,
        *,
        metadata: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """POST a new upload; `length=None` defers the length."""
        extra: dict[str, str] = {}
        if length is None:
            extra["Upload-Defer-Length"] = "1"
        else:
            extra["Upload-Length"] = str(length)
        if metadata is not None:
            extra["Upload-Metadata"] = metadata
        if content is not None:
            extra["Content-Type"] = OFFSET_STREAM
        extra.update(headers or {})
        return self.post(extra, content)

    def head(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        resumable: object = _DEFAULT,
        timeout: float | None = None,
    ) -> httpx.Response:
        kwargs: dict[str, object] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return self.http.head(url, headers=self._headers(headers, resumable), **kwargs)  # type: ignore[arg-type]

    def patch(
        self,
        url: str,
        offset: int | str | None,
        content: bytes | Iterable[bytes],
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = OFFSET_STREAM,
        resumable: object = _DEFAULT,
        timeout: float | None = None,
    ) -> httpx.Response:
        extra: dict[str, str] = {}
        if content_type is not None:
            extra["Content-Type"] = content_type
        if offset is not None:
            extra["Upload-Offset"] = str(offset)
        extra.update(headers or {})
        kwargs: dict[str, object] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return self.http.patch(
            url,
            headers=self._headers(extra, resumable),
            content=content,
            **kwargs,  # type: ignore[arg-type]
        )

    def delete(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        resumable: object = _DEFAULT,
    ) -> httpx.Response:
        return self.http.delete(url, headers=self._headers(headers, resumable))

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return self.http.get(url, headers=dict(headers or {}))

    def offset_of(self, url: str) -> int:
        """The Upload-Offset a HEAD reports; raises when the HEAD does not succeed."""
        response = self.head(url)
        if response.status_code not in (200, 204):
            raise AssertionError(f"HEAD {url} answered {response.status_code}")
        return int(response.headers["upload-offset"])

    def stable_offset(self, url: str, *, timeout: float = 5.0, settle: float = 0.3) -> int:
        """HEAD until the offset stops moving for `settle` seconds (or `timeout` passes).

        A server may still be writing the tail of an interrupted PATCH when we ask.
        """
        deadline = time.monotonic() + timeout
        last: int | None = None
        stable_since = time.monotonic()
        while True:
            response = self.head(url)
            current = (
                int(response.headers["upload-offset"])
                if response.status_code in (200, 204) and "upload-offset" in response.headers
                else None
            )
            now = time.monotonic()
            if current != last:
                last, stable_since = current, now
            elif current is not None and now - stable_since >= settle:
                return current
            if now >= deadline:
                if last is None:
                    raise AssertionError(f"HEAD {url} never reported an Upload-Offset")
                return last
            time.sleep(0.05)

    def upload_rest(self, url: str, data: bytes, *, chunk: int = 4 * 1024 * 1024) -> int:
        """PATCH `data` from the server's current offset to the end; returns the final offset."""
        offset = self.offset_of(url)
        while offset < len(data):
            piece = data[offset : offset + chunk]
            response = self.patch(url, offset, piece)
            if response.status_code != 204:
                raise AssertionError(
                    f"PATCH at {offset} answered {response.status_code}: {response.text[:200]}"
                )
            offset = int(response.headers["upload-offset"])
        return offset


def require(server: ServerInfo, extension: str) -> None:
    """Skip the calling test when the server does not advertise `extension`.

    This is the suite's only reason to skip a tus rule: an extension the server does not offer.
    """
    if not server.supports(extension):
        pytest.skip(f"server does not advertise the '{extension}' extension")
