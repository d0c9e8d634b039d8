"""The blocking pre-create hook, like tusd's pre-create: ask an HTTP endpoint before an upload exists.

Request: `POST <url>` with JSON
    {"type": "pre-create", "upload": {"size": 1234 | null, "metadata": {"filename": "a.txt", ...}}}
(`size` is null for a deferred length; metadata values are the decoded Upload-Metadata text).

Answer:
- 2xx: accepted. A JSON body `{"metadata": {...}}` replaces the upload's metadata (amend); an empty
  body or one without "metadata" keeps it.
- 4xx: rejected. The client gets the same status and the body (first 1000 characters, one line)
  as its message; no upload is created.
- anything else (5xx, 3xx, a timeout, a refused connection, an unreadable 2xx body) is a hook
  failure. Failure mode: closed by default, the client gets 503 `pre_create_hook_unavailable` and
  may retry; with `fail_open`, the upload is created unchanged and `pre_create_hook_failed` is
  logged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog

from tusportal.errors import TusError

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger(__name__)

MAX_MESSAGE = 1000
MAX_BODY = 64 * 1024


class UploadRejectedByHook(TusError):
    """The hook said no: its status (4xx) and message go to the client as they are."""

    code = "rejected_by_pre_create_hook"
    message = "the upload was rejected"

    def __init__(self, status: int, message: str | None = None):
        super().__init__(message or self.message)
        self.__dict__["status"] = status  # per instance, unlike every other TusError


class PreCreateHookUnavailable(TusError):
    status = 503
    code = "pre_create_hook_unavailable"
    message = "the upload could not be checked right now; retry later"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_MESSAGE]


class PreCreateHook:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        fail_open: bool = False,
        client: httpx.AsyncClient | None = None,
    ):
        self.url = url
        self.timeout = timeout
        self.fail_open = fail_open
        if client is None:
            import httpx  # only where a hook is configured: httpx and its TLS context cost ~10 MiB

            client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._client = client

    async def close(self) -> None:
        await self._client.aclose()

    async def check(
        self, *, length: int | None, metadata: dict[str, str | None]
    ) -> dict[str, str | None] | None:
        """Returns the amended metadata, or None to keep it; raises `UploadRejectedByHook` or
        (failing closed) `PreCreateHookUnavailable`."""
        import httpx

        payload = {"type": "pre-create", "upload": {"size": length, "metadata": metadata}}
        try:
            async with self._client.stream("POST", self.url, json=payload, timeout=self.timeout) as response:
                body = await self._read(response)
                status = response.status_code
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        if 400 <= status < 500:
            message = _one_line(body.decode("utf-8", errors="replace"))
            log.info("pre_create_hook_rejected", status=status, message=message)
            raise UploadRejectedByHook(status, message or None)
        if not 200 <= status < 300:
            self._failed(f"HTTP {status}")
            return None
        try:
            return self._amended(body)
        except ValueError as exc:
            self._failed(f"unreadable answer: {exc}")
            return None

    @staticmethod
    async def _read(response: httpx.Response) -> bytes:
        import httpx

        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY:
                raise httpx.DecodingError("answer larger than 64 KiB")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _amended(body: bytes) -> dict[str, str | None] | None:
        if not body.strip():
            return None
        doc: Any = json.loads(body)
        if not isinstance(doc, dict) or doc.get("metadata") is None:
            return None
        metadata = doc["metadata"]
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and k and not set(k) & {" ", ","} and (v is None or isinstance(v, str))
            for k, v in metadata.items()
        ):
            raise ValueError("metadata must map keys (no spaces or commas) to strings or null")
        return dict(metadata)

    def _failed(self, error: str) -> None:
        """Failing open: log and go on; failing closed: 503."""
        log.warning("pre_create_hook_failed", url=self.url, error=error[:300], fail_open=self.fail_open)
        if not self.fail_open:
            raise PreCreateHookUnavailable()
