"""The pure account decisions: password hashing, tokens, permissions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tusportal import auth
from tusportal.auth import passwords


def test_password_round_trip_and_rejection() -> None:
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$15$8$1$")
    assert auth.verify_password("correct horse battery", stored)
    assert not auth.verify_password("correct horse batterY", stored)
    assert not auth.needs_rehash(stored)


def test_same_password_different_salts() -> None:
    assert auth.hash_password("same password") != auth.hash_password("same password")


@pytest.mark.parametrize(
    "stored", ["", "plain", "scrypt$15$8$1$salt", "bcrypt$15$8$1$AAAA$AAAA", "scrypt$40$8$1$AAAA$AAAA"]
)
def test_unreadable_hashes_never_verify(stored: str) -> None:
    assert not auth.verify_password("whatever1", stored)


def test_weaker_parameters_still_verify_and_ask_for_rehash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "LOG2_N", 12)
    old = auth.hash_password("old password")
    monkeypatch.undo()
    assert auth.verify_password("old password", old)
    assert auth.needs_rehash(old)


def test_password_strength() -> None:
    with pytest.raises(auth.WeakPassword):
        auth.hash_password("short")
    with pytest.raises(auth.WeakPassword):
        auth.check_strength("x" * 2000)
    assert not auth.verify_password("x" * 2000, auth.hash_password("x" * 20))


def test_tokens_are_random_prefixed_and_stored_hashed() -> None:
    first, second = auth.new_token(), auth.new_token()
    assert first.token != second.token
    assert first.token.startswith("tp_") and len(first.token) >= 40
    assert first.token_hash == auth.hash_token(first.token)
    assert first.token not in first.token_hash and len(first.token_hash) == 64
    assert auth.token_matches(first.token, first.token_hash)
    assert not auth.token_matches(second.token, first.token_hash)
    assert auth.looks_like_token(first.token)


@pytest.mark.parametrize("value", ["", "tp_", "xx_abc", "tp_abc def", "tp_é", "tp_" + "a" * 300])
def test_token_shape_rejections(value: str) -> None:
    assert not auth.looks_like_token(value)


@settings(max_examples=50)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-_", min_size=1, max_size=60))
def test_bearer_header_round_trip(token: str) -> None:
    assert auth.bearer_token(f"Bearer {token}") == token
    assert auth.bearer_token(f"bearer   {token}  ") == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token tp_x"])
def test_bearer_header_rejections(header: str | None) -> None:
    assert auth.bearer_token(header) is None


def test_permissions() -> None:
    alice = auth.Principal("u_alice", "alice@example.com")
    bob = auth.Principal("u_bob", "bob@example.com")
    admin = auth.Principal("u_admin", "admin@example.com", is_admin=True)
    assert auth.can_access(alice, "u_alice")
    assert not auth.can_access(bob, "u_alice")
    assert not auth.can_access(alice, None)  # made while auth was off: admins only
    assert auth.can_access(admin, "u_alice") and auth.can_access(admin, None)
    assert auth.can_access(None, "u_alice")  # auth off
    assert auth.owner_filter(alice) == "u_alice"
    assert auth.owner_filter(admin) is None and auth.owner_filter(None) is None
    assert auth.owner_for_new(alice) == "u_alice" and auth.owner_for_new(None) is None
