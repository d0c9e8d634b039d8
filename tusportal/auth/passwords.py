"""Password hashing with scrypt (memory-hard, in the standard library).

Stored form: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`, so parameters can be raised later
and old hashes still verify (`needs_rehash` tells when to re-hash at the next login).
Cost: n=2**15, r=8, p=1 takes 32 MiB and about 50-100 ms per hash on a current CPU.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
LOG2_N = 15
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 1024  # a longer "password" is a denial-of-service attempt, not a secret


class WeakPassword(ValueError):
    pass


def check_strength(password: str) -> str:
    """The rules a new password must meet; returns it unchanged."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    return password


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p, dklen=KEY_BYTES
    )


def hash_password(password: str) -> str:
    check_strength(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, LOG2_N, R, P)
    return f"{SCHEME}${LOG2_N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches; False for a wrong password or an unreadable stored hash."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        scheme, log2_n, r, p, salt, key = stored.split("$")
        if scheme != SCHEME or not 10 <= int(log2_n) <= 20:
            return False
        expected = _unb64(key)
        actual = _derive(password, _unb64(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) != 6 or parts[0] != SCHEME or parts[1:4] != [str(LOG2_N), str(R), str(P)]
