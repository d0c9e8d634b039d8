"""Brute-force resistance: failed sign-ins are counted per account and per client address in
PostgreSQL, so every instance refuses (429 with Retry-After) once a limit is reached; a success
clears its account's count; the window ends and sign-in works again."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from browser_support import Browser, add_user, fresh_email, sql

PASSWORD = "a long enough password"
WINDOW = 8


@pytest.fixture(scope="module")
def throttled(server_factory: Any) -> Any:
    server = server_factory(
        {
            "TUSPORTAL_AUTH": "required",
            "TUSPORTAL_TRUST_PROXY_HEADERS": "true",  # each test its own address, via X-Forwarded-For
            "TUSPORTAL_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
            "TUSPORTAL_LOGIN_MAX_FAILURES_PER_ADDRESS": "5",
            "TUSPORTAL_LOGIN_FAILURE_WINDOW_SECONDS": str(WINDOW),
        }
    )
    yield server
    server.stop()


def from_address(server: Any, address: str | None = None) -> Browser:
    address = address or f"198.51.100.{secrets.randbelow(250) + 1}, 10.{secrets.randbelow(250)}.0.1"
    return Browser(server.base, headers={"X-Forwarded-For": address})


def test_an_account_is_blocked_after_its_limit_on_every_instance(server_factory: Any, throttled: Any) -> None:
    email = fresh_email()
    add_user(throttled.database_url, email, PASSWORD)
    b = from_address(throttled)
    for _ in range(3):
        assert b.login(email, "wrong password").status_code == 400
    blocked = b.login(email, PASSWORD)  # even the right password
    assert blocked.status_code == 429, blocked.text
    assert 1 <= int(blocked.headers["retry-after"]) <= WINDOW
    assert "too many failed sign-in attempts" in blocked.text
    assert "tusportal_session" not in b.cookies
    # from another address too, and on another instance sharing the database
    assert from_address(throttled).login(email, PASSWORD).status_code == 429
    other = server_factory(
        {"TUSPORTAL_AUTH": "required", "TUSPORTAL_LOGIN_MAX_FAILURES_PER_ACCOUNT": "3"}, share=throttled
    )
    try:
        assert Browser(other.base).login(email, PASSWORD).status_code == 429
    finally:
        other.stop()
    rows = sql(
        throttled.database_url,
        "SELECT failures FROM login_failures WHERE kind = 'account' AND key = %s",
        (email,),
    )
    assert rows == [(3,)]  # refused attempts are not counted: no lockout extension
    # the window ends
    time.sleep(int(blocked.headers["retry-after"]) + 0.5)
    assert from_address(throttled).login(email, PASSWORD).status_code == 303


def test_unknown_accounts_are_throttled_alike(throttled: Any) -> None:
    b, email = from_address(throttled), fresh_email("nobody")
    for _ in range(3):
        assert b.login(email, "whatever pw").status_code == 400
    assert b.login(email, "whatever pw").status_code == 429


def test_a_success_clears_the_accounts_count(throttled: Any) -> None:
    email = fresh_email()
    add_user(throttled.database_url, email, PASSWORD)
    b = from_address(throttled)
    for _ in range(2):
        assert b.login(email, "wrong password").status_code == 400
    assert from_address(throttled).login(email, PASSWORD).status_code == 303
    for _ in range(2):
        assert from_address(throttled).login(email, "wrong password").status_code == 400
    assert from_address(throttled).login(email, PASSWORD).status_code == 303  # 2 < 3 after the reset


def test_an_address_is_blocked_after_its_limit(throttled: Any) -> None:
    email = fresh_email()
    add_user(throttled.database_url, email, PASSWORD)
    address = f"203.0.113.{secrets.randbelow(250) + 1}"
    attacker = from_address(throttled, address)
    for _ in range(5):  # five different accounts, so no account limit is reached
        assert attacker.login(fresh_email("guess"), "wrong password").status_code == 400
    blocked = attacker.login(email, PASSWORD)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert from_address(throttled).login(email, PASSWORD).status_code == 303  # others are not blocked


def test_ipv6_addresses_count_per_64(throttled: Any) -> None:
    prefix = f"2001:db8:{secrets.randbelow(65535):x}:1"
    for i in range(5):
        b = from_address(throttled, f"{prefix}::{i + 1:x}")
        assert b.login(fresh_email("guess"), "wrong password").status_code == 400
    assert (
        from_address(throttled, f"{prefix}::ffff").login(fresh_email("x"), "pw whatever").status_code == 429
    )
