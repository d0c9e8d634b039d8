"""Every route (tus, JSON API, account pages, web UI pages and forms, static files) x {anonymous,
owner, other user, admin} against a real server with
TUSPORTAL_AUTH=required. Another user's upload, batch or webhook answers exactly as an unknown id
does (same status, same error code, same message); admins see everything."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tusportal import auth

TUS = {"Tus-Resumable": "1.0.0"}
WHO = ("anonymous", "owner", "other", "admin")


@dataclass
class Portal:
    base: str
    tokens: dict[str, str]  # who -> token ("anonymous" has none)
    database_url: str

    def client(self, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def add_user(database_url: str, email: str, *, admin: bool = False) -> str:
    """A user and a token, straight into the server's database (the CLI is tested on its own)."""
    user_id = "u_" + secrets.token_hex(6)
    token = auth.new_token()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, is_admin) VALUES (%s, %s, %s, %s)",
            (user_id, email, auth.hash_password("not-used-here"), admin),
        )
        conn.execute(
            "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES (%s, %s, 'test', %s)",
            ("tok_" + secrets.token_hex(6), user_id, token.token_hash),
        )
    return token.token


@pytest.fixture(scope="module")
def portal(server_factory) -> Iterator[Portal]:
    # webhooks made here point nowhere: one failed attempt ends a delivery
    server = server_factory({"TUSPORTAL_AUTH": "required", "TUSPORTAL_WEBHOOK_RETRY_WINDOW_SECONDS": "1"})
    tokens = {
        "owner": add_user(server.database_url, "owner@example.com"),
        "other": add_user(server.database_url, "other@example.com"),
        "admin": add_user(server.database_url, "admin@example.com", admin=True),
    }
    yield Portal(server.base, tokens, server.database_url)
    server.stop()  # its transactions would slow other modules' event feeds


@dataclass
class Owned:
    """Fresh resources of the owner, one set per case."""

    upload: str  # an unfinished upload of 10 bytes
    finished: str  # an empty, finished upload
    partial: str
    batch: str
    webhook: str
    token: str  # the id of an API token of the owner


def path_of(location: str) -> str:
    return httpx.URL(location).path


def owned(portal: Portal) -> Owned:
    with portal.client("owner") as c:
        upload = c.post("/files/", headers={**TUS, "Upload-Length": "10"})
        finished = c.post("/files/", headers={**TUS, "Upload-Length": "0"})
        partial = c.post("/files/", headers={**TUS, "Upload-Length": "3", "Upload-Concat": "partial"})
        batch = c.post("/api/batches", json={"name": "owned"})
        webhook = c.post(
            "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "enabled": False}
        )
        token = c.post("/api/tokens", json={"name": "owned"})
    for r in (upload, finished, partial, batch, webhook, token):
        assert r.status_code == 201, r.text
    return Owned(
        path_of(upload.headers["Location"]),
        path_of(finished.headers["Location"]),
        path_of(partial.headers["Location"]),
        batch.json()["id"],
        webhook.json()["id"],
        token.json()["id"],
    )


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


Request = Callable[[httpx.Client, Owned], httpx.Response]
FORM = {"next": "/"}  # the UI's buttons post a url-encoded form

# route -> (request, expected status for anonymous, owner, other user, admin)
MATRIX: dict[str, tuple[Request, tuple[int, int, int, int]]] = {
    "tus POST": (
        lambda c, o: c.post("/files/", headers={**TUS, "Upload-Length": "0"}),
        (401, 201, 201, 201),
    ),
    "tus HEAD": (lambda c, o: c.head(o.upload, headers=TUS), (401, 200, 404, 200)),
    "tus PATCH": (
        lambda c, o: c.patch(
            o.upload,
            content=b"hello",
            headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        ),
        (401, 204, 404, 204),
    ),
    "tus GET": (lambda c, o: c.get(o.finished), (401, 200, 404, 200)),
    "tus DELETE": (lambda c, o: c.delete(o.upload, headers=TUS), (401, 204, 404, 204)),
    "tus POST final": (
        lambda c, o: c.post("/files/", headers={**TUS, "Upload-Concat": f"final;{o.partial}"}),
        (401, 201, 404, 201),
    ),
    "tus POST into batch": (
        lambda c, o: c.post(
            "/files/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta(batch=o.batch)}
        ),
        (401, 201, 400, 201),
    ),
    "GET /api/batches": (lambda c, o: c.get("/api/batches"), (401, 200, 200, 200)),
    "POST /api/batches": (lambda c, o: c.post("/api/batches", json={"name": "n"}), (401, 201, 201, 201)),
    "GET /api/batches/{id}": (lambda c, o: c.get(f"/api/batches/{o.batch}"), (401, 200, 404, 200)),
    "POST /api/batches/{id}/seal": (
        lambda c, o: c.post(f"/api/batches/{o.batch}/seal"),
        (401, 200, 404, 200),
    ),
    "POST /api/batches/{id}/cancel": (
        lambda c, o: c.post(f"/api/batches/{o.batch}/cancel"),
        (401, 200, 404, 200),
    ),
    "GET /api/webhooks": (lambda c, o: c.get("/api/webhooks"), (401, 200, 200, 200)),
    "POST /api/webhooks": (
        lambda c, o: c.post(
            "/api/webhooks", json={"url": "http://127.0.0.1:9/x", "event_types": ["*"], "enabled": False}
        ),
        (401, 201, 201, 201),
    ),
    "GET /api/webhooks/{id}": (lambda c, o: c.get(f"/api/webhooks/{o.webhook}"), (401, 200, 404, 200)),
    "PATCH /api/webhooks/{id}": (
        lambda c, o: c.patch(f"/api/webhooks/{o.webhook}", json={"description": "changed"}),
        (401, 200, 404, 200),
    ),
    "DELETE /api/webhooks/{id}": (lambda c, o: c.delete(f"/api/webhooks/{o.webhook}"), (401, 204, 404, 204)),
    "GET /api/webhooks/{id}/deliveries": (
        lambda c, o: c.get(f"/api/webhooks/{o.webhook}/deliveries"),
        (401, 200, 404, 200),
    ),
    "POST /api/webhooks/{id}/replay": (
        lambda c, o: c.post(f"/api/webhooks/{o.webhook}/replay"),
        (401, 202, 404, 202),
    ),
    "GET /api/deliveries/{id} (unknown)": (
        lambda c, o: c.get("/api/deliveries/999999999"),
        (401, 404, 404, 404),
    ),
    "GET /api/events": (lambda c, o: c.get("/api/events"), (401, 200, 200, 200)),
    # accounts: the JSON API (anonymous: 401) and the pages (anonymous GET: 303 to /login)
    "GET /api/me": (lambda c, o: c.get("/api/me"), (401, 200, 200, 200)),
    "GET /api/tokens": (lambda c, o: c.get("/api/tokens"), (401, 200, 200, 200)),
    "POST /api/tokens": (lambda c, o: c.post("/api/tokens", json={"name": "n"}), (401, 201, 201, 201)),
    "DELETE /api/tokens/{id}": (lambda c, o: c.delete(f"/api/tokens/{o.token}"), (401, 204, 404, 204)),
    "GET /login": (lambda c, o: c.get("/login"), (200, 303, 303, 303)),
    "GET /register (closed)": (lambda c, o: c.get("/register"), (404, 404, 404, 404)),
    "POST /logout": (lambda c, o: c.post("/logout"), (303, 303, 303, 303)),
    "GET /account": (lambda c, o: c.get("/account"), (303, 200, 200, 200)),
    "POST /account/password (wrong current)": (
        lambda c, o: c.post(
            "/account/password",
            data={"current_password": "wrong!", "new_password": "n" * 9, "new_password_again": "n" * 9},
        ),
        (401, 400, 400, 400),
    ),
    "GET /tokens": (lambda c, o: c.get("/tokens"), (303, 200, 200, 200)),
    "POST /tokens": (lambda c, o: c.post("/tokens", data={"name": "page"}), (401, 200, 200, 200)),
    # the page revokes one's own tokens only (admins revoke others' through the API)
    "POST /tokens/{id}/revoke": (lambda c, o: c.post(f"/tokens/{o.token}/revoke"), (401, 303, 404, 404)),
    # the web UI: pages send a signed-out browser to sign-in (303); forms without credentials get 401
    "GET / (dashboard)": (lambda c, o: c.get("/"), (303, 200, 200, 200)),
    "GET /upload": (lambda c, o: c.get("/upload"), (303, 200, 200, 200)),
    "GET /files (page)": (lambda c, o: c.get("/files", params={"q": "x"}), (303, 200, 200, 200)),
    "POST /files/{id}/delete": (
        lambda c, o: c.post(f"/files/{o.upload.rsplit('/', 1)[1]}/delete", data=FORM),
        (401, 303, 404, 303),
    ),
    "GET /batches (page)": (lambda c, o: c.get("/batches"), (303, 200, 200, 200)),
    "POST /batches (form)": (lambda c, o: c.post("/batches", data={"name": "form"}), (401, 303, 303, 303)),
    "GET /batches/{id} (page)": (lambda c, o: c.get(f"/batches/{o.batch}"), (303, 200, 404, 200)),
    "POST /batches/{id}/seal (form)": (
        lambda c, o: c.post(f"/batches/{o.batch}/seal", data=FORM),
        (401, 303, 404, 303),
    ),
    "POST /batches/{id}/cancel (form)": (
        lambda c, o: c.post(f"/batches/{o.batch}/cancel", data=FORM),
        (401, 303, 404, 303),
    ),
    "GET /events (page)": (lambda c, o: c.get("/events"), (303, 200, 200, 200)),
    "POST /events/deliveries/{id}/replay (unknown)": (
        lambda c, o: c.post("/events/deliveries/999999999/replay"),
        (401, 404, 404, 404),
    ),
    "GET /webhooks (page)": (lambda c, o: c.get("/webhooks"), (303, 200, 200, 200)),
    "POST /webhooks (form)": (
        lambda c, o: c.post("/webhooks", data={"url": "http://127.0.0.1:9/f", "event_types": "*"}),
        (401, 201, 201, 201),
    ),
    "POST /webhooks/{id}/enable": (
        lambda c, o: c.post(f"/webhooks/{o.webhook}/enable", data=FORM),
        (401, 303, 404, 303),
    ),
    "POST /webhooks/{id}/disable": (
        lambda c, o: c.post(f"/webhooks/{o.webhook}/disable", data=FORM),
        (401, 303, 404, 303),
    ),
    "POST /webhooks/{id}/delete": (
        lambda c, o: c.post(f"/webhooks/{o.webhook}/delete", data=FORM),
        (401, 303, 404, 303),
    ),
    "GET /static/app.css": (lambda c, o: c.get("/static/app.css"), (200, 200, 200, 200)),
    "OPTIONS /files/": (lambda c, o: c.options("/files/"), (204, 204, 204, 204)),
    "GET /healthz": (lambda c, o: c.get("/healthz"), (200, 200, 200, 200)),
}


@pytest.mark.parametrize("route", list(MATRIX))
def test_route_by_caller(portal: Portal, route: str) -> None:
    request, expected = MATRIX[route]
    got = {}
    for who in WHO:
        with portal.client(who) as client:
            response = request(client, owned(portal))
        got[who] = response.status_code
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert got == dict(zip(WHO, expected, strict=True))


def unknown_twin(path: str) -> str:
    return path.rsplit("/", 1)[0] + "/" + secrets.token_urlsafe(18)


@pytest.mark.parametrize("method", ["HEAD", "PATCH", "DELETE", "GET"])
def test_someone_elses_upload_answers_as_an_unknown_one(portal: Portal, method: str) -> None:
    o = owned(portal)
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    with portal.client("other") as c:
        theirs = c.request(method, o.upload, headers=headers, content=b"x" if method == "PATCH" else None)
        unknown = c.request(
            method, unknown_twin(o.upload), headers=headers, content=b"x" if method == "PATCH" else None
        )
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers.get("X-Tus-Error") == unknown.headers.get("X-Tus-Error")
    assert theirs.text == unknown.text


def test_someone_elses_batch_and_webhook_answer_as_unknown_ones(portal: Portal) -> None:
    o = owned(portal)
    with portal.client("other") as c:
        for theirs, unknown in (
            (f"/api/batches/{o.batch}", "/api/batches/b_unknown"),
            (f"/api/webhooks/{o.webhook}", "/api/webhooks/wh_unknown"),
        ):
            a, b = c.get(theirs), c.get(unknown)
            assert (a.status_code, a.text, a.headers.get("X-Tus-Error")) == (
                b.status_code,
                b.text,
                b.headers.get("X-Tus-Error"),
            )
        joined = c.post(
            "/files/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta(batch=o.batch)}
        )
        missing = c.post(
            "/files/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta(batch="b_x")}
        )
    assert joined.text.replace(o.batch, "ID") == missing.text.replace("b_x", "ID")


def feed_subjects(client: httpx.Client) -> set[str]:
    """Every subject in the caller's feed, read to its end (rows show once their transaction is
    older than every running one, so read twice with a short wait)."""
    subjects: set[str] = set()
    cursor = "0"
    for _ in range(100):
        page = client.get("/api/events", params={"after": cursor, "limit": 1000, "wait": 0.5}).json()
        subjects |= {e["subject"] for e in page["events"]}
        if not page["events"]:
            break
        cursor = page["next"]
    return subjects


def test_listings_and_the_feed_show_only_ones_own(portal: Portal) -> None:
    o = owned(portal)
    listed = {}
    for who in ("owner", "other", "admin"):
        with portal.client(who) as c:
            batches = {b["id"] for b in c.get("/api/batches", params={"limit": 500}).json()["batches"]}
            hooks = {w["id"] for w in c.get("/api/webhooks").json()["webhooks"]}
            subjects = feed_subjects(c)
        listed[who] = (
            o.batch in batches,
            o.webhook in hooks,
            path_of(o.finished).rsplit("/", 1)[1] in subjects,
        )
    assert listed == {
        "owner": (True, True, True),
        "other": (False, False, False),
        "admin": (True, True, True),
    }


def test_revoked_and_malformed_tokens_are_refused(portal: Portal) -> None:
    for header in ("Bearer tp_" + "A" * 43, "Bearer nonsense", "Basic b3duZXI6eA==", "Bearer"):
        r = httpx.post(
            portal.base + "/files/", headers={**TUS, "Upload-Length": "0", "Authorization": header}
        )
        assert r.status_code == 401, header
        assert "Bearer" in r.headers["WWW-Authenticate"]
        assert r.headers["Tus-Resumable"] == "1.0.0"


def test_a_revoked_token_stops_working_within_the_cache_time(portal: Portal) -> None:
    token = add_user(portal.database_url, f"leaver-{secrets.token_hex(4)}@example.com")
    headers = {**TUS, "Upload-Length": "0", "Authorization": f"Bearer {token}"}
    assert httpx.post(portal.base + "/files/", headers=headers).status_code == 201
    with psycopg.connect(portal.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s", (auth.hash_token(token),)
        )
    time.sleep(5.5)  # BearerAuth caches a resolved token for 5 s
    refused = httpx.post(portal.base + "/files/", headers=headers)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_webhooks_get_only_their_owners_events(portal: Portal) -> None:
    hooks = {}
    for who in ("owner", "other", "admin"):
        with portal.client(who) as c:
            made = c.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
            hooks[who] = made.json()["id"]
    with portal.client("owner") as c:
        assert c.post("/files/", headers={**TUS, "Upload-Length": "0"}).status_code == 201

    def deliveries(who: str) -> int:
        with portal.client(who) as c:
            return len(c.get(f"/api/webhooks/{hooks[who]}/deliveries").json()["deliveries"])

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (deliveries("owner") and deliveries("admin")):
        time.sleep(0.2)
    assert deliveries("owner") >= 1 and deliveries("admin") >= 1
    assert deliveries("other") == 0
