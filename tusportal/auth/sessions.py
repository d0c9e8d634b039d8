"""Browser sessions and CSRF tokens.

A session cookie is `tps_` + 32 random bytes (URL-safe); the database keeps only its SHA-256, like
an API token. The CSRF token of a session is derived from the cookie (a keyed hash of it), so it needs
no storage, differs for every session, and cannot be turned back into the cookie. Without a session
(anonymous mode, or the login form) the same derivation runs over a random `tusportal_csrf` cookie:
the double-submit pattern. Presented tokens are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from tusportal.auth.tokens import has_secret_shape, hash_token

SESSION_PREFIX = "tps_"
_RANDOM_BYTES = 32
_CSRF_KEY = b"tusportal csrf token v1"


@dataclass(frozen=True)
class NewSession:
    cookie: str  # goes to the browser; never stored
    token_hash: str  # what the database keeps


def session_hash(cookie: str) -> str:
    return hash_token(cookie)  # stored as an API token is: its SHA-256


def new_session() -> NewSession:
    cookie = SESSION_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return NewSession(cookie, session_hash(cookie))


def new_csrf_secret() -> str:
    """The value of a fresh `tusportal_csrf` cookie (used only while there is no session)."""
    return secrets.token_urlsafe(_RANDOM_BYTES)


def looks_like_session(value: str) -> bool:
    """Cheap shape check of a session cookie before any lookup."""
    return has_secret_shape(value, SESSION_PREFIX)


def looks_like_csrf_secret(value: str) -> bool:
    return len(value) >= 32 and has_secret_shape(value)


def csrf_token_for(secret: str) -> str:
    """The CSRF token that belongs to a session cookie (or to a `tusportal_csrf` cookie)."""
    digest = hmac.new(_CSRF_KEY, secret.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(expected: str, presented: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace"))
