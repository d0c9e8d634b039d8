# ruff: noqa: ASYNC109 -- every request takes its own explicit deadline
"""A minimal HTTP/1.1 keep-alive client for the benchmark, written for speed, not generality.

Contract: one `Connection` carries one request at a time. A request body is a `Payload`: `length`
bytes taken cyclically from one pre-generated buffer and written in large slices, so the client
never generates or copies data in the hot loop. Every request has a deadline; a response the
client cannot parse, a closed connection or a missed deadline raises `BenchError`.

Supported responses: Content-Length bodies, chunked bodies, no body (HEAD, 1xx, 204, 304), and
bodies delimited by connection close. Nothing else (no Expect: 100-continue, no pipelining).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WRITE_SLICE = 4 * 1024 * 1024  # bytes handed to the transport per write() call
WRITE_HIGH_WATER = 8 * 1024 * 1024  # transport buffer size at which drain() blocks


class BenchError(Exception):
    """A request failed or a server answered something the scenario did not expect."""


@dataclass(frozen=True)
class Payload:
    """`length` bytes read cyclically from `source` (which is never copied)."""

    source: memoryview
    length: int

    def slices(self):
        size = len(self.source)
        remaining = self.length
        position = 0
        while remaining > 0:
            n = min(WRITE_SLICE, remaining, size - position)
            yield self.source[position : position + n]
            remaining -= n
            position = (position + n) % size


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the first byte written to the last byte of the response read
    close: bool = field(default=False)

    def header(self, name: str) -> str:
        try:
            return self.headers[name]
        except KeyError:
            raise BenchError(f"response {self.status} lacks header {name}: {self.headers}") from None


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, timeout: float = 10.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=256 * 1024), timeout
        )
        self._writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 5.0)
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        payload: Payload | None = None,
        timeout: float = 60.0,
    ) -> Response:
        if self._writer is None:
            await self.open()
        try:
            response = await asyncio.wait_for(self._exchange(method, path, headers, payload), timeout)
        except TimeoutError:
            await self.close()
            raise BenchError(f"{method} {path}: no response within {timeout:.0f} s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise BenchError(f"{method} {path}: {exc!r}") from exc
        if response.close:
            await self.close()
        return response

    async def _exchange(self, method, path, headers, payload) -> Response:
        assert self._reader is not None and self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if payload is not None or method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {payload.length if payload else 0}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer = self._writer
        started = time.perf_counter()
        writer.write(head)
        if payload is not None:
            for chunk in payload.slices():
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        response = await self._read_response(method)
        response.seconds = time.perf_counter() - started
        return response

    async def _read_response(self, method: str) -> Response:
        reader = self._reader
        assert reader is not None
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = raw.decode("latin-1").split("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise BenchError(f"bad status line {status_line!r}")
            status = int(parts[1])
            if not 100 <= status < 200:
                break  # interim 1xx responses are skipped
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
        body = b""
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked()
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
            close = True
        return Response(status, headers, body, 0.0, close)

    async def _read_chunked(self) -> bytes:
        reader = self._reader
        assert reader is not None
        pieces = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailer fields
                return b"".join(pieces)
            pieces.append(await reader.readexactly(size))
            await reader.readexactly(2)


def path_of(location: str) -> str:
    """The request target for an upload URL the server returned in Location."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
