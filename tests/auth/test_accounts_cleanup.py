"""`tusportal cleanup` removes expired sessions, expired or revoked API tokens and lapsed
login-throttle counters, keeps live ones, and with --dry-run only lists them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from browser_support import sql
from cli_support import logged, run_tusportal

from tusportal import auth


def cleanup(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_tusportal(
        "cleanup",
        *args,
        "--data-dir",
        str(data_dir),
        env={"TUSPORTAL_DATABASE_URL": database_url, "TUSPORTAL_LOG_FORMAT": "json"},
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_cleanup_removes_dead_sessions_and_tokens(postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    cleanup(url, tmp_path)  # applies the migrations; nothing to remove yet
    sql(url, "INSERT INTO users (id, email, password_hash) VALUES ('u_1', 'a@example.com', 'x')")
    for name, expires, revoked in (
        ("tok_live", "now() + interval '1 day'", "NULL"),
        ("tok_forever", "NULL", "NULL"),
        ("tok_expired", "now() - interval '1 minute'", "NULL"),
        ("tok_revoked", "NULL", "now() - interval '1 minute'"),
    ):
        sql(
            url,
            "INSERT INTO api_tokens (id, user_id, name, token_hash, expires_at, revoked_at)"
            f" VALUES (%s, 'u_1', %s, %s, {expires}, {revoked})",
            (name, name, auth.new_token().token_hash),
        )
    live, dead = auth.new_session(), auth.new_session()
    sql(
        url,
        "INSERT INTO sessions (token_hash, user_id, expires_at, absolute_expires_at) VALUES"
        " (%s, 'u_1', now() + interval '1 hour', now() + interval '1 day'),"
        " (%s, 'u_1', now() - interval '1 second', now() + interval '1 day')",
        (live.token_hash, dead.token_hash),
    )
    sql(
        url,
        "INSERT INTO login_failures (kind, key, failures, window_started_at) VALUES"
        " ('account', 'a@example.com', 3, now()), ('address', '192.0.2.1', 9, now() - interval '1 day')",
    )

    dry = cleanup(url, tmp_path, "--dry-run")
    assert "would remove 1 expired session(s)" in dry.stdout
    assert "would remove 2 expired or revoked API token(s)" in dry.stdout
    assert "tok_expired" in dry.stdout and "tok_revoked" in dry.stdout and "tok_live" not in dry.stdout
    assert "would remove 1 lapsed login-throttle counter(s)" in dry.stdout
    assert logged(dry, "cleanup_accounts_removed")["dry_run"] is True
    assert sql(url, "SELECT count(*) FROM sessions") == [(2,)]
    assert sql(url, "SELECT count(*) FROM api_tokens") == [(4,)]
    assert sql(url, "SELECT count(*) FROM login_failures") == [(2,)]

    done = cleanup(url, tmp_path)
    event = logged(done, "cleanup_accounts_removed")
    assert (event["sessions"], event["tokens"], event["login_counters"]) == (1, 2, 1)
    assert event["token_ids"] == ["tok_expired", "tok_revoked"] and event["dry_run"] is False
    assert "removed 1 expired session(s)" in done.stdout
    assert sql(url, "SELECT token_hash FROM sessions") == [(live.token_hash,)]
    assert sorted(r[0] for r in sql(url, "SELECT id FROM api_tokens")) == ["tok_forever", "tok_live"]
    assert sql(url, "SELECT kind FROM login_failures") == [("account",)]
    again = cleanup(url, tmp_path)
    assert logged(again, "cleanup_accounts_removed")["sessions"] == 0
