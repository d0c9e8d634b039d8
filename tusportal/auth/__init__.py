"""Accounts as pure decisions: password hashing, API tokens, permissions. No I/O, no framework."""

from tusportal.auth.passwords import (
    WeakPassword,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from tusportal.auth.permissions import Principal, can_access, owner_filter, owner_for_new
from tusportal.auth.sessions import (
    NewSession,
    csrf_matches,
    csrf_token_for,
    looks_like_csrf_secret,
    looks_like_session,
    new_csrf_secret,
    new_session,
    session_hash,
)
from tusportal.auth.throttle import LoginLimits, address_key, retry_after
from tusportal.auth.tokens import (
    TOKEN_PREFIX,
    NewToken,
    bearer_token,
    hash_token,
    looks_like_token,
    new_token,
    token_matches,
)

__all__ = [
    "TOKEN_PREFIX",
    "LoginLimits",
    "NewSession",
    "NewToken",
    "Principal",
    "WeakPassword",
    "address_key",
    "bearer_token",
    "can_access",
    "check_strength",
    "csrf_matches",
    "csrf_token_for",
    "hash_password",
    "hash_token",
    "looks_like_csrf_secret",
    "looks_like_session",
    "looks_like_token",
    "needs_rehash",
    "new_csrf_secret",
    "new_session",
    "new_token",
    "owner_filter",
    "owner_for_new",
    "retry_after",
    "session_hash",
    "token_matches",
    "verify_password",
]
