"""The accounts repositories against a real PostgreSQL: users, tokens, expiry, revocation, sessions
and the login-failure counters."""

from __future__ import annotations

import asyncio

import pytest

from tusportal import auth
from tusportal.state import migrations
from tusportal.state.accounts import AccountRepository
from tusportal.state.db import Database
from tusportal.state.login_failures import LoginFailureRepository
from tusportal.state.sessions import SessionRepository


@pytest.fixture
async def accounts(postgres):
    db = Database(postgres.new_database(), min_size=1, max_size=2)
    await db.open()
    async with db.connection() as conn:
        await migrations.apply(conn)
    yield AccountRepository(db)
    await db.close()


async def test_users_are_unique_by_lowercased_email(accounts: AccountRepository) -> None:
    user = await accounts.create_user("u_1", email="Alice@Example.com", password_hash="h")
    assert user is not None and user.email == "alice@example.com" and not user.is_admin
    assert await accounts.create_user("u_2", email="ALICE@example.com", password_hash="h") is None
    found = await accounts.user_by_email("alice@EXAMPLE.com")
    assert found is not None and found.id == "u_1"
    assert await accounts.user_by_email("bob@example.com") is None


async def test_token_lookup_revocation_and_expiry(accounts: AccountRepository) -> None:
    await accounts.create_user("u_1", email="a@example.com", password_hash="h", is_admin=True)
    live, revoked, expired = auth.new_token(), auth.new_token(), auth.new_token()
    await accounts.create_token("t_1", user_id="u_1", name="ci", token_hash=live.token_hash)
    await accounts.create_token("t_2", user_id="u_1", name="old", token_hash=revoked.token_hash)
    short = await accounts.create_token(
        "t_3", user_id="u_1", name="short", token_hash=expired.token_hash, expires_in_days=0.5 / 86400
    )
    assert short.expires_at is not None
    assert await accounts.revoke_token("t_2", user_id="u_1")
    assert not await accounts.revoke_token("t_2")  # already revoked
    await asyncio.sleep(0.6)

    user = await accounts.user_for_token(live.token_hash)
    assert user is not None and user.id == "u_1" and user.is_admin
    assert await accounts.user_for_token(revoked.token_hash) is None
    assert await accounts.user_for_token(expired.token_hash) is None
    assert await accounts.user_for_token(auth.hash_token("tp_unknown")) is None
    tokens = {t.id: t for t in await accounts.tokens_of("u_1")}
    assert tokens["t_1"].last_used_at is not None and tokens["t_2"].revoked_at is not None
    assert not await accounts.revoke_token("t_1", user_id="u_other")


async def test_concurrent_login_failures_all_count_and_a_lapsed_window_restarts(
    accounts: AccountRepository,
) -> None:
    failures = LoginFailureRepository(accounts.db)
    counts = await asyncio.gather(
        *(failures.record("account", "x@example.com", window_seconds=60) for _ in range(12))
    )
    assert sorted(c.failures for c in counts) == list(range(1, 13))
    (now,) = await failures.counts(account="x@example.com", address="192.0.2.1")
    assert now.kind == "account" and now.failures == 12 and now.window_age_seconds < 60
    # windows of a second, with margins a loaded machine keeps (a late step only ages things more)
    await asyncio.sleep(1.2)
    restarted = await failures.record("account", "x@example.com", window_seconds=1.0)
    assert restarted.failures == 1 and restarted.window_age_seconds < 1.0
    assert await failures.lapsed_count(window_seconds=1.0) == 0
    await asyncio.sleep(1.2)
    assert await failures.remove_lapsed(window_seconds=1.0) == 1


async def test_sessions_slide_up_to_their_absolute_end(accounts: AccountRepository) -> None:
    await accounts.create_user("u_s", email="s@example.com", password_hash="h")
    sessions = SessionRepository(accounts.db)
    fresh, other = auth.new_session(), auth.new_session()
    await sessions.create(fresh.token_hash, user_id="u_s", idle_seconds=2.0, absolute_seconds=3.5)
    await sessions.create(other.token_hash, user_id="u_s", idle_seconds=60, absolute_seconds=60)
    for _ in range(3):  # used every 0.8 s (1.2 s of margin for a loaded machine): alive past the idle time
        await asyncio.sleep(0.8)
        user = await sessions.touch(fresh.token_hash, idle_seconds=2.0)
        assert user is not None and user.id == "u_s"
    await asyncio.sleep(1.2)  # at least 3.6 s: past the absolute end
    assert await sessions.touch(fresh.token_hash, idle_seconds=2.0) is None
    assert await sessions.expired_count() == 1
    assert await sessions.delete_of_user("u_s", keep=other.token_hash) == 1
    assert await sessions.touch(other.token_hash, idle_seconds=60) is not None
    assert await sessions.delete(other.token_hash) and not await sessions.delete(other.token_hash)
