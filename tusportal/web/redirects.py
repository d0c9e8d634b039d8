"""Where a sign-in may send the browser next: only a path on this server (no open redirect)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

LOGIN_PATH = "/login"


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this server, else `default`. Refused: absolute and
    scheme-relative URLs (`//host`, `/\\host`, which browsers read as `//host`), control characters,
    and anything that is not a path."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return default
    if target.startswith(("//", "/\\")) or any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_url(next_path: str) -> str:
    return f"{LOGIN_PATH}?next={quote(local_path(next_path), safe='/')}"
