"""Browser sessions against a real server (TUSPORTAL_AUTH=required): sign-in and its generic
failure, cookie attributes, redirects to the sign-in page, sign-out ending the session in the
database, CSRF on every unsafe cookie request (forms, JSON, tus), registration, password change,
and a tus upload with tuspy carrying the session cookie and the CSRF header."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import Browser, add_token, add_user, attributes, fresh_email, set_cookies, sql
from tusclient import client
from tusclient.exceptions import TusCommunicationError

from tusportal import auth

TUS = {"Tus-Resumable": "1.0.0"}
PASSWORD = "a long enough password"


@pytest.fixture
def user(accounts_server: Any) -> tuple[str, str]:
    email = fresh_email()
    return email, add_user(accounts_server.database_url, email, PASSWORD)


@pytest.fixture
def browser(accounts_server: Any) -> Any:
    b = Browser(accounts_server.base)
    yield b
    b.close()


def signed_in(server: Any, email: str, password: str = PASSWORD) -> Browser:
    b = Browser(server.base)
    response = b.login(email, password)
    assert response.status_code == 303, response.text
    return b


def test_sign_in_sets_a_safe_session_cookie(accounts_server: Any, browser: Browser, user: Any) -> None:
    email, user_id = user
    response = browser.login(email.upper(), PASSWORD, next_path="/batches?state=open")
    assert response.status_code == 303
    assert response.headers["location"] == "/batches?state=open"
    line = set_cookies(response)["tusportal_session"]
    assert {"httponly", "path", "max-age"} <= attributes(line) and "secure" not in attributes(line)
    assert "samesite=lax" in line.lower() and "max-age=604800" in line.lower()
    cookie = browser.session
    assert cookie is not None and cookie.startswith("tps_")
    # only the hash is stored
    rows = sql(accounts_server.database_url, "SELECT token_hash FROM sessions WHERE user_id = %s", (user_id,))
    assert rows == [(hashlib.sha256(cookie.encode()).hexdigest(),)]
    page = browser.get("/account")
    assert page.status_code == 200 and email in page.text
    assert browser.csrf("/account") == auth.csrf_token_for(cookie)
    me = browser.get("/api/me")
    assert me.json() == {"id": user_id, "email": email, "is_admin": False}


def test_wrong_password_and_unknown_email_answer_alike(browser: Browser, user: Any) -> None:
    email, _ = user
    wrong = browser.login(email, "not the password")
    unknown_email = fresh_email("nobody")
    unknown = browser.login(unknown_email, PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "wrong email or password" in response.text
        assert "tusportal_session" not in set_cookies(response)
    assert wrong.text.replace(email, "EMAIL") == unknown.text.replace(unknown_email, "EMAIL")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(browser: Browser, user: Any, target: str) -> None:
    response = browser.login(user[0], PASSWORD, next_path=target)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_without_credentials_pages_redirect_and_the_rest_is_401(browser: Browser) -> None:
    page = browser.get("/batches?state=open&x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/batches%3Fstate%3Dopen%26x%3D1"
    assert browser.get("/").headers["location"] == "/login?next=/"
    assert browser.request("HEAD", "/files").status_code == 303  # the UI's files page
    for method, path in (("GET", "/api/batches"), ("POST", "/files/"), ("GET", "/api/me"), ("POST", "/")):
        response = browser.request(method, path, headers=TUS)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert browser.get("/login").status_code == 200
    assert browser.get("/register").status_code == 200
    assert browser.get("/static/app.css").status_code not in (303, 401)
    assert browser.get("/healthz").status_code == 200


def test_sign_out_ends_the_session_in_the_database(accounts_server: Any, user: Any) -> None:
    email, user_id = user
    b = signed_in(accounts_server, email)
    old = b.session
    assert old is not None
    token = b.csrf("/account")
    assert b.get("/account").status_code == 200  # cached by the server now
    out = b.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "max-age=0" in set_cookies(out)["tusportal_session"].lower()
    assert sql(accounts_server.database_url, "SELECT 1 FROM sessions WHERE user_id = %s", (user_id,)) == []
    replay = Browser(accounts_server.base)
    replay.cookies["tusportal_session"] = old
    again = replay.get("/account")
    assert again.status_code == 303 and again.headers["location"] == "/login?next=/account"
    assert "max-age=0" in set_cookies(again)["tusportal_session"].lower()  # the stale cookie goes
    replay.cookies["tusportal_session"] = old
    api = replay.get("/api/me")
    assert api.status_code == 401 and "session has ended" in api.text


def test_unsafe_cookie_requests_need_the_csrf_token(accounts_server: Any, user: Any) -> None:
    b = signed_in(accounts_server, user[0])
    token = b.csrf("/account")
    refused = b.post("/api/batches", json={"name": "no token"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert refused.headers["x-tus-error"] == "csrf_failed"
    wrong = b.post("/api/batches", json={"name": "x"}, headers={"X-CSRF-Token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    assert b.post("/api/batches", json={"name": "ok"}, headers={"X-CSRF-Token": token}).status_code == 201
    # forms: the csrf_token field, or the header
    assert b.post("/tokens", data={"name": "form"}).status_code == 403
    assert b.post("/tokens", data={"name": "form", "csrf_token": "nope"}).status_code == 403
    assert b.post("/tokens", data={"name": "form", "csrf_token": token}).status_code == 200
    multipart = b.post("/tokens", files={"name": (None, "multi"), "csrf_token": (None, token)})
    assert multipart.status_code == 200 and "multi" in multipart.text
    # the method after X-HTTP-Method-Override is what counts
    made = b.post("/api/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token}).json()
    sneaky = b.get(f"/api/tokens/{made['id']}", headers={"X-HTTP-Method-Override": "DELETE"})
    assert sneaky.status_code == 403
    # a token from another session does not do
    other = signed_in(accounts_server, user[0])
    assert (
        b.post(
            "/api/batches", json={"name": "x"}, headers={"X-CSRF-Token": other.csrf("/account")}
        ).status_code
        == 403
    )
    # a form body beyond the limit is refused without being parsed
    big = b.post("/tokens", data={"name": "x" * (70 * 1024)})
    assert big.status_code == 413


def test_bearer_requests_need_no_csrf_token(accounts_server: Any, user: Any) -> None:
    token = add_token(accounts_server.database_url, user[1])
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.post(accounts_server.base + "/api/batches", json={"name": "b"}, headers=headers).status_code
        == 201
    )
    form = httpx.post(accounts_server.base + "/tokens", data={"name": "by bearer"}, headers=headers)
    assert form.status_code == 200


def test_tus_with_the_session_cookie_and_csrf_header(accounts_server: Any, user: Any) -> None:
    b = signed_in(accounts_server, user[0])
    token = b.csrf("/account")
    assert b.post("/files/", headers={**TUS, "Upload-Length": "10"}).status_code == 403
    made = b.post("/files/", headers={**TUS, "Upload-Length": "10", "X-CSRF-Token": token})
    assert made.status_code == 201
    path = httpx.URL(made.headers["location"]).path
    patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert b.request("PATCH", path, content=b"hello", headers=patch).status_code == 403
    assert b.request("HEAD", path, headers=TUS).headers["upload-offset"] == "0"
    done = b.request("PATCH", path, content=b"hello", headers={**patch, "X-CSRF-Token": token})
    assert done.status_code == 204 and done.headers["upload-offset"] == "5"
    rows = sql(
        accounts_server.database_url, "SELECT owner_id FROM uploads WHERE id = %s", (path.rsplit("/", 1)[1],)
    )
    assert rows == [(user[1],)]


@pytest.mark.timeout(120)
def test_tuspy_uploads_with_the_session_cookie(accounts_server: Any, user: Any, tmp_path: Path) -> None:
    b = signed_in(accounts_server, user[0])
    token = b.csrf("/account")
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "file.bin"
    source.write_bytes(data)
    cookie = f"tusportal_session={b.session}"
    tus = client.TusClient(accounts_server.url, headers={"Cookie": cookie, "X-CSRF-Token": token})
    uploader = tus.uploader(str(source), chunk_size=1024 * 1024, metadata={"filename": "file.bin"})
    uploader.upload()
    assert uploader.url is not None
    got = b.get(httpx.URL(uploader.url).path)
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    without = client.TusClient(accounts_server.url, headers={"Cookie": cookie})
    with pytest.raises(TusCommunicationError) as refused:
        without.uploader(str(source), chunk_size=1024 * 1024).upload()
    assert refused.value.status_code == 403


def test_registration(accounts_server: Any, browser: Browser) -> None:
    token = browser.csrf("/register")
    email = fresh_email("new")
    form = {"csrf_token": token, "email": email, "password": PASSWORD, "password_again": PASSWORD}
    assert browser.post("/register", data={**form, "password_again": "different"}).status_code == 400
    assert (
        browser.post("/register", data={**form, "password": "short", "password_again": "short"}).status_code
        == 400
    )
    assert browser.post("/register", data={**form, "email": "not-an-email"}).status_code == 400
    assert (
        browser.post("/register", data={k: v for k, v in form.items() if k != "csrf_token"}).status_code
        == 403
    )
    made = browser.post("/register", data=form)
    assert made.status_code == 303 and browser.session is not None
    me = browser.get("/api/me").json()
    assert me["email"] == email and me["is_admin"] is False
    again = Browser(accounts_server.base)
    taken = again.post("/register", data={**form, "csrf_token": again.csrf("/register")})
    assert taken.status_code == 409 and "exists" in taken.text
    assert signed_in(accounts_server, email).get("/account").status_code == 200


def test_password_change(accounts_server: Any, user: Any) -> None:
    email, _ = user
    here, elsewhere = signed_in(accounts_server, email), signed_in(accounts_server, email)
    token = here.csrf("/account")
    assert elsewhere.get("/account").status_code == 200
    form = {"csrf_token": token, "current_password": "wrong one!", "new_password": "new password 1"}
    wrong = here.post("/account/password", data={**form, "new_password_again": "new password 1"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    differ = here.post(
        "/account/password", data={**form, "current_password": PASSWORD, "new_password_again": "other"}
    )
    assert differ.status_code == 400
    weak = here.post(
        "/account/password",
        data={**form, "current_password": PASSWORD, "new_password": "short", "new_password_again": "short"},
    )
    assert weak.status_code == 400
    assert elsewhere.get("/account").status_code == 200  # nothing changed yet
    changed = here.post(
        "/account/password",
        data={**form, "current_password": PASSWORD, "new_password_again": "new password 1"},
    )
    assert changed.status_code == 200 and "Other sessions signed out: 1" in changed.text
    assert here.get("/account").status_code == 200
    gone = elsewhere.get("/account")
    assert gone.status_code == 303
    assert Browser(accounts_server.base).login(email, PASSWORD).status_code == 400
    assert Browser(accounts_server.base).login(email, "new password 1").status_code == 303
