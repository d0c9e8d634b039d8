"""Accounts as pure decisions: password hashing, API tokens, permissions. No I/O, no framework."""

from tusportal.auth.passwords import (
    WeakPassword,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from tusportal.auth.permissions import Principal, can_access, owner_filter, owner_for_new
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
    "NewToken",
    "Principal",
    "WeakPassword",
    "bearer_token",
    "can_access",
    "check_strength",
    "hash_password",
    "hash_token",
    "looks_like_token",
    "needs_rehash",
    "new_token",
    "owner_filter",
    "owner_for_new",
    "token_matches",
    "verify_password",
]
