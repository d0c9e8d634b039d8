"""A minimal HTTP/1.1 client over a raw socket, for requests httpx cannot misbehave with.

The fault tests need to send a request head that promises more body than they deliver, stall
mid-body, or vanish without finishing. This client does exactly what it is told and nothing else.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class RawConnectionClosed(Exception):
    """The server closed the connection before sending a complete response head."""


class RawRequest:
    """One request on its own connection: `start()` sends the head, `send()` body bytes."""

    def __init__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        *,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.secure = parts.scheme == "https"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.method = method
        self.headers = dict(headers)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.sent = 0

    def start(self) -> RawRequest:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        lines = [f"{self.method} {self.target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return self

    def send(self, data: bytes) -> bool:
        """Send body bytes; False when the server no longer accepts them."""
        assert self.sock is not None, "start() first"
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def response(self, timeout: float | None = None) -> RawResponse:
        """Read one response (head and body)."""
        assert self.sock is not None, "start() first"
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv()
            if not chunk:
                raise RawConnectionClosed(f"connection closed after {len(buffer)} header bytes")
            buffer += chunk
        head, rest = buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._read_body(headers, rest, status)
        return RawResponse(status, headers, body)

    def _recv(self) -> bytes:
        assert self.sock is not None
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def _read_body(self, headers: dict[str, str], rest: bytes, status: int) -> bytes:
        if self.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if "content-length" in headers:
            wanted = int(headers["content-length"])
            while len(rest) < wanted:
                chunk = self._recv()
                if not chunk:
                    break
                rest += chunk
            return rest[:wanted]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                chunk = self._recv()
                if not chunk:
                    break
                rest += chunk
            return rest
        return rest

    def close(self) -> None:
        """Close the connection (FIN), abandoning any body not yet sent."""
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> RawRequest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
