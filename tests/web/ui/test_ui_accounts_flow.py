"""The whole browser journey with accounts on (TUSPORTAL_AUTH=required, open registration), in
Debian's headless chromium against a real server: a signed-out visit lands on sign-in, the user
registers, creates an API token (shown once), adds a webhook, uploads two files through Uppy into a
new batch with one of them paused mid-way and resumed, sees both in the file list and the batch
complete, sees their events delivered, changes the password, and signs out. A screenshot of every
page is saved under test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EMAIL = "ada@example.org"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another long passphrase 42"
SMALL = 150_000
BIG = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def portal(server_factory) -> Iterator[Any]:
    server = server_factory({"TUSPORTAL_AUTH": "required", "TUSPORTAL_REGISTRATION": "open"})
    yield server
    server.stop()


def shot(page: Any, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"accounts-{name}.png"), full_page=True)


def test_register_token_upload_batch_events_sign_out(
    portal: Any, browser: Any, receiver: Any, screenshots: Path, wait_until: Any
) -> None:
    base = portal.base
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)

    # signed out: a page sends the browser to sign-in, and comes back there afterwards
    page.goto(base + "/files?q=notes")
    assert page.url == base + "/login?next=/files%3Fq%3Dnotes"
    assert page.locator("h1").inner_text() == "Sign in"
    shot(page, screenshots, "login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "error" in (page.locator("[role=alert]").get_attribute("class") or "")  # no such user yet

    # register
    page.get_by_role("link", name="Register").click()
    assert page.locator("h1").inner_text() == "Create an account"
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password (at least 8 characters)").fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    shot(page, screenshots, "register")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    assert EMAIL in page.locator("header .who").inner_text()
    session = next(c for c in context.cookies() if c["name"] == "tusportal_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    page.goto(base + "/")
    shot(page, screenshots, "dashboard")

    # an API token: shown once, works as Bearer, never shown again
    page.goto(base + "/tokens")
    page.get_by_label("Name (what it is for)").fill("ingest script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert token.startswith("tp_")
    shot(page, screenshots, "tokens")
    api = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/me").json()["email"] == EMAIL
    page.goto(base + "/tokens")
    assert page.locator("#new-token").count() == 0 and token not in page.content()
    assert "ingest script" in page.locator("table").inner_text()

    # a webhook for every event, to a receiver that answers 200
    page.goto(base + "/webhooks")
    page.get_by_label("URL").fill(receiver.url + "/ok")
    for box in page.locator('input[name="event_types"]').all():
        box.set_checked(box.get_attribute("value") == "*")
    page.get_by_role("button", name="Create webhook").click()
    page.wait_for_selector("#created-webhook")
    shot(page, screenshots, "webhooks")

    # Uppy: two files into a new batch; the big one is paused mid-way (slowed network), then resumed
    page.goto(base + "/upload")
    page.wait_for_function("window.uppy !== undefined")
    page.get_by_label("Batch", exact=True).select_option("new")
    page.get_by_label("New batch name").fill("ada's batch")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 512 * 1024}
    cdp.send("Network.emulateNetworkConditions", slow)
    ids = page.evaluate(
        f"""() => [["notes.txt", {SMALL}], ["scan.tif", {BIG}]].map(([name, size]) =>
            window.uppy.addFile({{ name, type: "application/octet-stream",
                                   data: new Blob([new Uint8Array(size).fill(3)]) }}))"""
    )
    page.evaluate("() => { window.uppy.upload(); }")
    big = ids[1]
    page.wait_for_function(f"window.uppy.getFile('{big}').progress.bytesUploaded > 0", polling=50)
    page.evaluate(f"window.uppy.pauseResume('{big}')")
    shot(page, screenshots, "upload-paused")
    batches = wait_until(
        lambda: [b for b in api.get("/api/batches").json()["batches"] if b["files_completed"] == 1],
        what="the small file to finish while the big one is paused",
    )
    batch = batches[0]
    assert batch["name"] == "ada's batch" and batch["state"] == "open"
    cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    page.evaluate(f"window.uppy.pauseResume('{big}')")
    page.wait_for_function("window.lastBatch !== undefined", timeout=60_000)
    assert page.evaluate("window.lastBatch.state") == "completed"
    shot(page, screenshots, "upload-done")

    # the file list and the batch page
    page.goto(base + "/files")
    listed = page.locator("tbody").inner_text()
    assert "notes.txt" in listed and "scan.tif" in listed
    shot(page, screenshots, "files")
    page.goto(f"{base}/batches/{batch['id']}")
    assert page.locator("#batch").get_attribute("data-state") == "completed"
    assert page.locator("#batch-files").inner_text().startswith("2 of 2 files complete")
    shot(page, screenshots, "batch")
    final = api.get(f"/api/batches/{batch['id']}").json()
    assert final["bytes_received"] == SMALL + BIG

    # their events, delivered to the webhook
    def delivered_rows() -> int:
        page.goto(base + "/events?type=tusportal.file.uploaded&state=delivered")
        return int(page.locator("tr[data-event-type]").count())

    wait_until(lambda: delivered_rows() == 2, what="both file.uploaded events to be delivered")
    shot(page, screenshots, "events")
    assert any(path == "/ok" for path, _ in receiver.received)

    # password change, then sign out: pages go back to sign-in, the API token keeps working
    page.goto(base + "/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password (at least 8 characters)").fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    shot(page, screenshots, "account")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_load_state()
    assert page.locator("[role=status], .ok").count() >= 1
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    page.goto(base + "/files")
    assert "/login" in page.url
    assert all(c["name"] != "tusportal_session" for c in context.cookies())
    assert api.get("/api/batches").status_code == 200

    # the new password signs in; the old one does not
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("[role=alert]").count() == 1
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/files")
    assert "notes.txt" in page.locator("tbody").inner_text()
    context.close()
