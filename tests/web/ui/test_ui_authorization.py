"""The UI pages with TUSPORTAL_AUTH=required and Bearer tokens (made with AccountService): each
user's pages list only their own files, batches, webhooks and events; another user's batch, file,
webhook or delivery answers exactly as an unknown one; an admin sees everything."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from tusportal.service.accounts import AccountService
from tusportal.state.accounts import AccountRepository
from tusportal.state.db import Database

TUS = {"Tus-Resumable": "1.0.0"}


async def make_tokens(database_url: str) -> dict[str, str]:
    db = Database(database_url, min_size=1, max_size=2)
    await db.open()
    try:
        accounts = AccountService(AccountRepository(db))
        tokens = {}
        for who, admin in (("alice", False), ("bob", False), ("root", True)):
            await accounts.create_user(f"{who}@example.com", "correct-horse-battery", is_admin=admin)
            tokens[who] = (await accounts.create_token(f"{who}@example.com", name="ui test"))[1]
        return tokens
    finally:
        await db.close()


@dataclass
class Portal:
    base: str
    tokens: dict[str, str]

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, follow_redirects=False)


def upload(c: httpx.Client, name: str, body: bytes, batch: str | None = None) -> str:
    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    if batch:
        meta += f",batch {base64.b64encode(batch.encode()).decode()}"
    created = c.post("/files/", headers={**TUS, "Upload-Length": str(len(body)), "Upload-Metadata": meta})
    assert created.status_code == 201, created.text
    path = httpx.URL(created.headers["Location"]).path
    sent = c.patch(
        path,
        content=body,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sent.status_code == 204, sent.text
    return path.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def portal(server_factory) -> Iterator[Portal]:
    server = server_factory({"TUSPORTAL_AUTH": "required", "TUSPORTAL_WEBHOOK_RETRY_WINDOW_SECONDS": "1"})
    yield Portal(server.base, asyncio.run(make_tokens(server.database_url)))
    server.stop()


def names_on(html: str) -> set[str]:
    return set(re.findall(r'<td class="name">([^<]+)<br>', html))


def test_each_user_sees_only_their_own(portal: Portal) -> None:
    with portal.client("alice") as alice, portal.client("bob") as bob, portal.client("root") as root:
        # a webhook that points nowhere: its deliveries die after one attempt
        hook = alice.post("/api/webhooks", json={"url": "http://127.0.0.1:9/alice", "event_types": ["*"]})
        assert hook.status_code == 201
        alice_hook = hook.json()["id"]
        batch = alice.post("/api/batches", json={"name": "alice batch"}).json()["id"]
        alice_file = upload(alice, "alice-data.csv", b"a,b\n1,2\n", batch)
        upload(alice, "alice-notes.txt", b"hello")
        bob_file = upload(bob, "bob-photo.jpg", b"\xff\xd8\xff")

        assert names_on(alice.get("/files").text) == {"alice-data.csv", "alice-notes.txt"}
        assert names_on(bob.get("/files").text) == {"bob-photo.jpg"}
        assert names_on(root.get("/files").text) == {"alice-data.csv", "alice-notes.txt", "bob-photo.jpg"}
        # a filter does not widen what one may see
        assert names_on(bob.get("/files", params={"batch": batch, "state": "all"}).text) == set()
        assert names_on(bob.get("/files", params={"q": "alice"}).text) == set()

        # someone else's batch is a 404 page exactly like an unknown id
        own = alice.get(f"/batches/{batch}")
        assert own.status_code == 200 and "alice batch" in own.text
        theirs = bob.get(f"/batches/{batch}")
        unknown = bob.get("/batches/b_doesnotexist")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.text == unknown.text
        assert "alice batch" not in bob.get("/batches").text
        assert "alice batch" in root.get("/batches").text
        assert root.get(f"/batches/{batch}").status_code == 200
        assert "alice batch" not in bob.get("/upload").text and "alice batch" in alice.get("/upload").text
        assert bob.post(f"/batches/{batch}/seal", data={"csrf_token": ""}).status_code == 404

        # deleting someone else's file: 404 as for an unknown id, and the file stays
        refused = bob.post(f"/files/{alice_file}/delete", data={"csrf_token": ""})
        unknown_file = bob.post("/files/nope/delete", data={"csrf_token": ""})
        assert refused.status_code == unknown_file.status_code == 404
        assert refused.text == unknown_file.text
        assert "alice-data.csv" in alice.get("/files").text
        deleted = bob.post(f"/files/{bob_file}/delete", data={"csrf_token": "", "next": "//evil.example"})
        assert deleted.status_code == 303 and deleted.headers["location"] == "/files"
        assert names_on(bob.get("/files").text) == set()

        # webhooks and events
        assert alice_hook in alice.get("/webhooks").text
        assert alice_hook not in bob.get("/webhooks").text
        assert bob.post(f"/webhooks/{alice_hook}/disable", data={"csrf_token": ""}).status_code == 404
        assert alice.get(f"/api/webhooks/{alice_hook}").json()["enabled"] is True
        assert bob.post(f"/webhooks/{alice_hook}/delete", data={"csrf_token": ""}).status_code == 404
        bob_events = bob.get("/events", params={"type": "tusportal.file.uploaded"}).text
        assert bob_file in bob_events and alice_file not in bob_events
        assert alice_file in root.get("/events", params={"type": "tusportal.file.uploaded"}).text

        # a dead delivery to alice's webhook: bob cannot replay it
        deliveries: list[dict[str, object]] = []
        for _ in range(100):
            deliveries = alice.get(f"/api/webhooks/{alice_hook}/deliveries", params={"state": "dead"}).json()[
                "deliveries"
            ]
            if deliveries:
                break
            time.sleep(0.2)
        assert deliveries, "no delivery to alice's webhook died"
        dead_id = deliveries[0]["id"]
        assert bob.post(f"/events/deliveries/{dead_id}/replay", data={"csrf_token": ""}).status_code == 404
        assert bob.post("/events/deliveries/99999999/replay", data={"csrf_token": ""}).status_code == 404
        replayed = alice.post(f"/events/deliveries/{dead_id}/replay", data={"csrf_token": ""})
        assert replayed.status_code == 303

        # dashboards count per owner
        dash = bob.get("/").text
        assert re.search(r'data-state-count="finished">0<', dash)
        assert re.search(r'data-state-count="terminated">1<', dash)
        assert re.search(r'data-state-count="finished">2<', alice.get("/").text)


def test_pages_need_a_session_or_a_token(portal: Portal) -> None:
    with portal.client(None) as anonymous:
        for path in ("/", "/files", "/batches", "/events", "/webhooks", "/upload", "/batches/b_x"):
            r = anonymous.get(path, params={"q": "a"} if path == "/files" else None)
            assert r.status_code == 303, (path, r.status_code)
            wanted = "/login?next=" + quote(path + ("?q=a" if path == "/files" else ""), safe="/")
            assert r.headers["location"] == wanted, (path, r.headers["location"])
        # state-changing UI posts and the JSON API are not redirected: 401
        assert anonymous.post("/files/u_x/delete").status_code == 401
        assert anonymous.get("/api/batches").status_code == 401


def test_bad_parameters_answer_400_not_500(portal: Portal) -> None:
    with portal.client("alice") as alice:
        for path, params in (
            ("/files", {"sort": "owner_id"}),
            ("/files", {"page": "-1"}),
            ("/files", {"page": "1e9"}),
            ("/files", {"per_page": "100000"}),
            ("/files", {"state": "gone"}),
            ("/files", {"order": "sideways"}),
            ("/batches", {"state": "weird"}),
            ("/batches", {"page": "abc"}),
            ("/events", {"type": "no.such.type"}),
            ("/events", {"state": "lost"}),
            ("/events", {"page": "0"}),
        ):
            r = alice.get(path, params=params)
            assert r.status_code == 400, (path, params, r.status_code)
            assert 'role="alert"' in r.text
        assert alice.post("/batches", data={"name": ""}).status_code == 400
        assert alice.post("/batches", data={"name": "x", "expected_files": "-3"}).status_code == 400
        assert alice.post("/webhooks", data={"url": "ftp://x", "event_types": "*"}).status_code == 400
        assert alice.post("/webhooks", data={"url": "http://x/", "event_types": "nope"}).status_code == 400
        as_json = {"content-type": "application/json"}
        assert alice.post("/batches", content=b"{}", headers=as_json).status_code == 400
        assert alice.post("/events/deliveries/abc/replay", data={"csrf_token": ""}).status_code == 404
        # and valid input still works
        made = alice.post("/batches", data={"name": "from the form", "expected_files": "2"})
        assert made.status_code == 303 and made.headers["location"].startswith("/batches/b_")
