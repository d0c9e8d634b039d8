"""API tokens: `tp_` + 32 random bytes (URL-safe), shown once, stored only as their SHA-256.

A token has 256 bits of entropy, so a plain SHA-256 is the right stored form (a slow KDF guards
low-entropy secrets such as passwords); lookups go by the hash, and the hash is compared with
`hmac.compare_digest` wherever a stored value is checked against a presented one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

TOKEN_PREFIX = "tp_"
_RANDOM_BYTES = 32
_MAX_LENGTH = 200
_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


@dataclass(frozen=True)
class NewToken:
    token: str  # give to the user once; never stored
    token_hash: str  # what the database keeps


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> NewToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return NewToken(token, hash_token(token))


def has_secret_shape(value: str, prefix: str = "") -> bool:
    """`prefix` and then a non-empty URL-safe body, at most 200 characters in all: the shape of
    every secret made here (API tokens, session cookies, CSRF cookies)."""
    body = value[len(prefix) :]
    return (
        value.startswith(prefix)
        and len(body) > 0
        and len(value) <= _MAX_LENGTH
        and _ALPHABET.issuperset(body)
    )


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any lookup."""
    return has_secret_shape(value, TOKEN_PREFIX)


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None
