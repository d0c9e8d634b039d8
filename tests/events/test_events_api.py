"""The events API on a real server (PostgreSQL broker, in-process worker threads): webhook
subscriptions, signed deliveries with the full file.uploaded payload, the pull feed with long-poll,
final refusals, the retry window, and replay from the API and the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from typing import Any

import httpx
import pytest
from cli_support import run_tusportal
from events_support import FAST, Receiver, subscribe, upload, wait_until

from tusportal.events.webhooks import verify


@pytest.fixture(scope="module")
def server(server_factory: Any) -> Any:
    return server_factory(dict(FAST))


def api(server: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.base + path, timeout=70, **kwargs)


def test_webhook_crud(server: Any) -> None:
    r = api(server, "POST", "/api/webhooks", json={"url": "http://127.0.0.1:9/x", "event_types": ["*"]})
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["id"].startswith("wh_") and r.headers["location"] == f"/api/webhooks/{hook['id']}"
    assert hook["secret"].startswith("whsec_") and len(base64.b64decode(hook["secret"][6:])) == 32
    listed = api(server, "GET", "/api/webhooks").json()["webhooks"]
    assert hook["id"] in [h["id"] for h in listed] and all("secret" not in h for h in listed)
    one = api(server, "GET", f"/api/webhooks/{hook['id']}").json()
    assert one["url"] == "http://127.0.0.1:9/x" and "secret" not in one

    r = api(
        server,
        "PATCH",
        f"/api/webhooks/{hook['id']}",
        json={"enabled": False, "event_types": ["tusportal.file.uploaded"], "description": "runner"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["event_types"] == ["tusportal.file.uploaded"]
    rotated = api(server, "PATCH", f"/api/webhooks/{hook['id']}", json={"rotate_secret": True}).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]

    assert api(server, "DELETE", f"/api/webhooks/{hook['id']}").status_code == 204
    assert api(server, "GET", f"/api/webhooks/{hook['id']}").status_code == 404
    assert api(server, "DELETE", f"/api/webhooks/{hook['id']}").status_code == 404
    assert api(server, "PATCH", "/api/webhooks/wh_none", json={"enabled": True}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "event_types": ["*"]},
        {"url": "not a url", "event_types": ["*"]},
        {"url": "http://127.0.0.1/x", "event_types": ["tusportal.nothing"]},
        {"url": "http://127.0.0.1/x", "event_types": []},
        {"url": "http://127.0.0.1/x"},
        {"url": "http://127.0.0.1/x", "event_types": ["*"], "surprise": 1},
    ],
)
def test_invalid_webhooks_are_refused(server: Any, body: dict[str, Any]) -> None:
    r = api(server, "POST", "/api/webhooks", json=body)
    assert r.status_code == 400, r.text
    assert api(server, "POST", "/api/webhooks", content=b"{nope").status_code == 400


def test_uploads_are_delivered_signed_with_everything_a_runner_needs(server: Any, receiver: Receiver) -> None:
    hook = subscribe(server, receiver)
    data = os.urandom(100_000)
    b64 = base64.b64encode
    meta = f"filename {b64(b'scan.pdf').decode()},filetype {b64(b'application/pdf').decode()}"
    upload_id = upload(server, data, **{"Upload-Metadata": meta})
    got = receiver.wait_for(2)
    by_type = {r.body["type"]: r for r in got}
    assert set(by_type) == {"tusportal.upload.created", "tusportal.file.uploaded"}
    for r in got:
        assert verify(hook["secret"], r.headers, r.raw) == r.body["id"]
        assert r.headers["content-type"] == "application/cloudevents+json"
        assert r.body["specversion"] == "1.0" and r.body["subject"] == upload_id
    done = by_type["tusportal.file.uploaded"].body["data"]
    assert done["upload_id"] == upload_id and done["size"] == len(data)
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    assert done["filename"] == "scan.pdf" and done["content_type"] == "application/pdf"
    assert done["metadata"] == {"filename": "scan.pdf", "filetype": "application/pdf"}
    assert httpx.get(done["download_url"], timeout=30).content == data
    # every attempt is recorded
    deliveries = api(server, "GET", f"/api/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert {d["state"] for d in deliveries} == {"delivered"} and len(deliveries) == 2
    one = api(server, "GET", f"/api/deliveries/{deliveries[0]['id']}").json()
    assert one["attempt_log"][0]["status"] == 204 and one["attempt_log"][0]["latency_ms"] > 0


def test_subscriptions_get_only_their_event_types(server: Any, receiver: Receiver) -> None:
    subscribe(server, receiver, ["tusportal.file.uploaded"])
    upload(server, b"abc")
    got = receiver.wait_for(1)
    time.sleep(0.5)
    assert [r.body["type"] for r in receiver.events()] == ["tusportal.file.uploaded"] == [got[0].body["type"]]


def test_feed_long_polls_and_resumes_from_its_cursor(server: Any) -> None:
    start = api(server, "GET", "/api/events", params={"after": "0", "limit": "1000"}).json()
    cursor = start["next"]
    while True:  # drain what earlier tests left
        page = api(server, "GET", "/api/events", params={"after": cursor, "limit": "1000"}).json()
        if not page["events"]:
            break
        cursor = page["next"]
    result: dict[str, Any] = {}

    def poll() -> None:
        began = time.monotonic()
        r = api(server, "GET", "/api/events", params={"after": cursor, "wait": "20"})
        result.update(page=r.json(), waited=time.monotonic() - began, status=r.status_code)

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    upload_id = upload(server, b"feed me")
    waiter.join(30)
    assert result["status"] == 200 and result["waited"] < 10  # answered when the event came, not at 20 s
    first = result["page"]["events"]
    assert first and first[0]["subject"] == upload_id and first[0]["sequence"] == first[0]["sequence"]
    # a runner that restarts continues from its cursor: nothing skipped, nothing repeated
    rest = api(server, "GET", "/api/events", params={"after": result["page"]["next"], "wait": "2"}).json()
    ids = [e["id"] for e in first + rest["events"]]
    both = api(server, "GET", "/api/events", params={"after": cursor, "limit": "1000"}).json()["events"]
    assert ids == [e["id"] for e in both] and len(ids) == 2
    typed = api(
        server, "GET", "/api/events", params={"after": cursor, "type": "tusportal.file.uploaded"}
    ).json()["events"]
    assert [e["type"] for e in typed] == ["tusportal.file.uploaded"]
    assert api(server, "GET", "/api/events", params={"after": cursor, "batch": "nope"}).json()["events"] == []
    assert api(server, "GET", "/api/events", params={"after": "zz"}).status_code == 400
    assert api(server, "GET", "/api/events", params={"wait": "61"}).status_code == 400
    assert api(server, "GET", "/api/events", params={"type": "tusportal.nothing"}).status_code == 400


def _cli(server: Any, *args: str) -> Any:
    env = {"TUSPORTAL_DATABASE_URL": server.database_url, "TUSPORTAL_LOG_FORMAT": "json"}
    out = run_tusportal(*args, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_refused_deliveries_are_dead_and_replayable_from_api_and_cli(server: Any, receiver: Receiver) -> None:
    receiver.status = 410  # gone: a final refusal, no retries
    hook = subscribe(server, receiver, ["tusportal.file.uploaded"])
    upload(server, b"one")
    upload(server, b"two")

    def dead() -> list[dict[str, Any]]:
        path = f"/api/webhooks/{hook['id']}/deliveries"
        return api(server, "GET", path, params={"state": "dead"}).json()["deliveries"]

    wait_until(lambda: len(dead()) == 2, 30, "two dead deliveries")
    first, second = dead()
    detail = api(server, "GET", f"/api/deliveries/{first['id']}").json()
    assert [(a["status"], a["outcome"]) for a in detail["attempt_log"]] == [(410, "final")]

    receiver.status = 204
    r = api(server, "POST", f"/api/deliveries/{first['id']}/replay")
    assert r.status_code == 202 and r.json()["replayed"] == [first["id"]]
    receiver.wait_for(1)
    replayed = _cli(server, "webhook", "replay", "--webhook", hook["id"])
    assert replayed["replayed"] == [second["id"]]
    got = receiver.wait_for(2)
    assert {r.webhook_id for r in got} == {first["event_id"], second["event_id"]}
    listed = _cli(server, "webhook", "deliveries", hook["id"], "--state", "delivered")
    assert len(listed) == 2
    assert api(server, "POST", "/api/deliveries/999999/replay").status_code == 404


def test_retries_stop_at_the_end_of_the_window(server_factory: Any, receiver: Receiver) -> None:
    server = server_factory({**FAST, "TUSPORTAL_WEBHOOK_RETRY_WINDOW_SECONDS": "3"})
    receiver.status = 503
    hook = subscribe(server, receiver, ["tusportal.file.uploaded"])
    upload(server, b"never")
    path = f"/api/webhooks/{hook['id']}/deliveries"
    wait_until(
        lambda: api(server, "GET", path, params={"state": "dead"}).json()["deliveries"] != [],
        30,
        "dead delivery",
    )
    delivery = api(server, "GET", path).json()["deliveries"][0]
    log = api(server, "GET", f"/api/deliveries/{delivery['id']}").json()["attempt_log"]
    assert len(log) >= 3  # retried with backoff inside the window
    assert all(a["status"] == 503 for a in log) and log[-1]["outcome"] == "dead"
    assert [a["attempt"] for a in log] == list(range(1, len(log) + 1))
