"""Session lifetime (idle and absolute), Secure cookies, closed registration, the production
profile's refusal of insecure cookies, and CSRF protection in anonymous mode."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import Browser, add_user, attributes, fresh_email, set_cookies
from cli_support import run_tusportal

from tusportal import auth, profiles
from tusportal.settings import Settings

PASSWORD = "a long enough password"
IDLE, MAX = 3, 8


@pytest.fixture(scope="module")
def short_sessions(server_factory: Any) -> Any:
    server = server_factory(
        {
            "TUSPORTAL_AUTH": "required",
            "TUSPORTAL_COOKIE_SECURE": "true",
            "TUSPORTAL_SESSION_IDLE_SECONDS": str(IDLE),
            "TUSPORTAL_SESSION_MAX_SECONDS": str(MAX),
        }
    )
    yield server
    server.stop()


def test_cookies_are_secure_when_configured(short_sessions: Any) -> None:
    b = Browser(short_sessions.base)
    page = b.get("/login")
    csrf = set_cookies(page)["tusportal_csrf"]
    assert {"httponly", "secure", "samesite", "path"} <= attributes(csrf)
    email = fresh_email()
    add_user(short_sessions.database_url, email, PASSWORD)
    session = set_cookies(b.login(email, PASSWORD))["tusportal_session"]
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes(session)
    assert f"max-age={MAX}" in session.lower() and "samesite=lax" in session.lower()


def test_an_idle_session_ends(short_sessions: Any) -> None:
    email = fresh_email()
    add_user(short_sessions.database_url, email, PASSWORD)
    b = Browser(short_sessions.base)
    assert b.login(email, PASSWORD).status_code == 303
    assert b.get("/account").status_code == 200
    time.sleep(IDLE + 1.5)
    assert b.get("/account").status_code == 303


def test_use_keeps_a_session_alive_until_its_absolute_end(short_sessions: Any) -> None:
    email = fresh_email()
    add_user(short_sessions.database_url, email, PASSWORD)
    b = Browser(short_sessions.base)
    started = time.monotonic()
    assert b.login(email, PASSWORD).status_code == 303
    while time.monotonic() - started < IDLE + 2:  # longer than the idle time, in use
        assert b.get("/account").status_code == 200
        time.sleep(0.7)
    while time.monotonic() - started < MAX + 2:  # the absolute end (plus the cache time)
        if b.get("/account").status_code == 303:
            break
        time.sleep(0.5)
    assert b.get("/account").status_code == 303
    assert time.monotonic() - started >= MAX - 0.5


def test_registration_is_closed_by_default(short_sessions: Any) -> None:
    b = Browser(short_sessions.base)
    assert b.get("/register").status_code == 404
    token = b.csrf("/login")
    assert "/register" not in b.get("/login").text
    form = {"csrf_token": token, "email": fresh_email(), "password": PASSWORD, "password_again": PASSWORD}
    closed = b.post("/register", data=form)
    assert closed.status_code == 404 and "registration" in closed.text


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_tusportal(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "1",
        env={"TUSPORTAL_DATA_DIR": str(tmp_path), **env},
        clean=True,
        timeout=60,
    )


def test_production_refuses_insecure_cookies(tmp_path: Path) -> None:
    result = serve(tmp_path, TUSPORTAL_ENV="production", TUSPORTAL_AUTH="required")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TUSPORTAL_COOKIE_SECURE" in lines[0] and "insecure cookies" in lines[0]
    assert not (tmp_path / "pg").exists(), "refused before anything started"
    secure = Settings(env="production", auth="required", host="0.0.0.0", cookie_secure=True)
    assert profiles.unsafe_setting(secure) is None
    assert profiles.unsafe_setting(Settings(env="development", auth="required")) is None


def test_anonymous_mode_protects_ui_forms_with_a_double_submit_cookie(tus_server: Any) -> None:
    b = Browser(tus_server.base)
    page = b.get("/account")
    assert page.status_code == 200 and "TUSPORTAL_AUTH=none" in page.text
    secret = b.cookies["tusportal_csrf"]
    assert {"httponly", "samesite"} <= attributes(set_cookies(page)["tusportal_csrf"])
    token = b.csrf("/tokens")
    assert token == auth.csrf_token_for(secret)
    assert "tusportal_csrf" not in set_cookies(b.get("/tokens"))  # kept, not renewed
    # a UI form without the token is refused; with it, it passes the check (the route then decides)
    assert b.post("/account", data={"x": "1"}).status_code == 403
    assert b.post("/account", data={"x": "1", "csrf_token": "forged"}).status_code == 403
    assert b.post("/account", data={"x": "1", "csrf_token": token}).status_code == 405
    stranger = Browser(tus_server.base)  # no cookie: a token copied from elsewhere does not do
    assert stranger.post("/account", data={"csrf_token": token}).status_code == 403
    # JSON and tus stay as they were in anonymous mode; cross-site form posts to the API do not
    assert httpx.post(tus_server.base + "/api/batches", json={"name": "anon"}).status_code == 201
    cross = httpx.post(
        tus_server.base + "/api/batches",
        content=b'{"name": "x"}',
        headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    tus = httpx.post(tus_server.url, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "0"})
    assert tus.status_code == 201 and "set-cookie" not in tus.headers
    assert httpx.get(tus_server.base + "/api/tokens").status_code == 404
