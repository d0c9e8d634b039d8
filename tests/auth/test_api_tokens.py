"""API tokens through the JSON API and the tokens page: created by the user, shown once, stored
hashed, listed without the secret, revoked (and refused within the cache time), expired; another
user's token id answers 404; an admin lists and revokes everyone's."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import httpx
import pytest
from browser_support import Browser, add_token, add_user, fresh_email, sql

PASSWORD = "a long enough password"
TUS = {"Tus-Resumable": "1.0.0"}


def api(server: Any, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture
def alice(accounts_server: Any) -> httpx.Client:
    user_id = add_user(accounts_server.database_url, fresh_email("alice"), PASSWORD)
    return api(accounts_server, add_token(accounts_server.database_url, user_id))


@pytest.fixture
def bob(accounts_server: Any) -> httpx.Client:
    user_id = add_user(accounts_server.database_url, fresh_email("bob"), PASSWORD)
    return api(accounts_server, add_token(accounts_server.database_url, user_id))


def test_a_new_token_is_shown_once_and_stored_hashed(accounts_server: Any, alice: httpx.Client) -> None:
    made = alice.post("/api/tokens", json={"name": "ci", "expires_in_days": 30})
    assert made.status_code == 201, made.text
    body = made.json()
    token = body["token"]
    assert token.startswith("tp_") and body["name"] == "ci" and body["state"] == "live"
    assert body["expires_at"] is not None and made.headers["cache-control"] == "no-store"
    stored = sql(accounts_server.database_url, "SELECT * FROM api_tokens WHERE id = %s", (body["id"],))
    assert len(stored) == 1 and token not in repr(stored)
    assert hashlib.sha256(token.encode()).hexdigest() in stored[0]
    listed = alice.get("/api/tokens")
    assert listed.status_code == 200 and token not in listed.text
    assert body["id"] in {t["id"] for t in listed.json()["tokens"]}
    with api(accounts_server, token) as fresh:
        assert fresh.post("/files/", headers={**TUS, "Upload-Length": "0"}).status_code == 201
        assert fresh.get("/api/me").json()["id"] == body["user_id"]


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"name": ""}',
        b'{"name": "x", "expires_in_days": 0}',
        b'{"name": "x", "expires_in_days": -1}',
        b'{"name": "x", "expires_in_days": 100000}',
        b'{"name": "x", "extra": 1}',
        b'{"name": 5}',
        b"not json",
        b'"a string"',
    ],
)
def test_bad_token_requests_are_a_400(alice: httpx.Client, body: bytes) -> None:
    response = alice.post("/api/tokens", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["x-tus-error"] == "invalid_request_body"


def test_revoke_own_token_and_not_someone_elses(alice: httpx.Client, bob: httpx.Client) -> None:
    mine = alice.post("/api/tokens", json={"name": "mine"}).json()
    theirs = bob.post("/api/tokens", json={"name": "theirs"}).json()
    unknown = alice.delete("/api/tokens/tok_unknown")
    other = alice.delete(f"/api/tokens/{theirs['id']}")
    assert other.status_code == unknown.status_code == 404 and other.text == unknown.text
    assert theirs["id"] not in {t["id"] for t in alice.get("/api/tokens").json()["tokens"]}
    assert mine["id"] not in {t["id"] for t in bob.get("/api/tokens").json()["tokens"]}
    headers = {**TUS, "Upload-Length": "0", "Authorization": f"Bearer {mine['token']}"}
    url = str(alice.base_url) + "/files/"
    assert httpx.post(url, headers=headers).status_code == 201  # cached by the server now
    assert alice.delete(f"/api/tokens/{mine['id']}").status_code == 204
    assert alice.delete(f"/api/tokens/{mine['id']}").status_code == 404  # no live token any more
    listed = {t["id"]: t for t in alice.get("/api/tokens").json()["tokens"]}
    assert listed[mine["id"]]["state"] == "revoked" and listed[mine["id"]]["revoked_at"]
    time.sleep(5.5)  # the server caches a resolved token for 5 s
    refused = httpx.post(url, headers=headers)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    theirs_headers = {**headers, "Authorization": f"Bearer {theirs['token']}"}
    assert httpx.post(url, headers=theirs_headers).status_code == 201  # untouched


def test_an_expired_token_stops_working(alice: httpx.Client) -> None:
    short = alice.post("/api/tokens", json={"name": "short", "expires_in_days": 1 / 86400}).json()
    time.sleep(1.5)
    url = str(alice.base_url) + "/api/me"
    assert httpx.get(url, headers={"Authorization": f"Bearer {short['token']}"}).status_code == 401
    listed = {t["id"]: t for t in alice.get("/api/tokens").json()["tokens"]}
    assert listed[short["id"]]["state"] == "expired"


def test_an_admin_lists_and_revokes_everyones(accounts_server: Any, alice: httpx.Client) -> None:
    admin_id = add_user(accounts_server.database_url, fresh_email("admin"), PASSWORD, admin=True)
    with api(accounts_server, add_token(accounts_server.database_url, admin_id)) as admin:
        theirs = alice.post("/api/tokens", json={"name": "alices"}).json()
        listed = {t["id"]: t for t in admin.get("/api/tokens").json()["tokens"]}
        assert listed[theirs["id"]]["user_id"] == theirs["user_id"]
        assert admin.delete(f"/api/tokens/{theirs['id']}").status_code == 204
        assert admin.get("/api/me").json()["is_admin"] is True


def test_the_tokens_page(accounts_server: Any) -> None:
    email = fresh_email()
    user_id = add_user(accounts_server.database_url, email, PASSWORD)
    b = Browser(accounts_server.base)
    assert b.login(email, PASSWORD).status_code == 303
    csrf = b.csrf("/tokens")
    made = b.post("/tokens", data={"csrf_token": csrf, "name": "laptop", "expires_days": "7"})
    assert made.status_code == 200
    token = re.search(r'value="(tp_[A-Za-z0-9_-]+)"', made.text)
    assert token is not None and "shown only this once" in made.text
    page = b.get("/tokens")
    assert "laptop" in page.text and token[1] not in page.text  # never shown again
    assert (
        b.post("/tokens", data={"csrf_token": csrf, "name": "x", "expires_days": "soon"}).status_code == 400
    )
    assert b.post("/tokens", data={"csrf_token": csrf, "name": " "}).status_code == 400
    (token_id,) = sql(
        accounts_server.database_url,
        "SELECT id FROM api_tokens WHERE user_id = %s AND name = 'laptop'",
        (user_id,),
    )[0]
    revoked = b.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/tokens"
    assert "revoked" in b.get("/tokens").text
    assert b.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 404
