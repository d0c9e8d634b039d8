"""The web UI in headless chromium against a real anonymous-mode server: every page renders, Uppy
uploads two files into a new batch (one paused and resumed), the file list finds them, the batch page
follows the progress to completion, the event monitor shows their webhook deliveries, a dead delivery
is replayed, a file is deleted, and the keyboard focus is visible."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PAGES = {
    "dashboard": ("/", "Dashboard"),
    "upload": ("/upload", "Upload files"),
    "files": ("/files", "Files"),
    "batches": ("/batches", "Batches"),
    "events": ("/events", "Events"),
    "webhooks": ("/webhooks", "Webhooks"),
}
SMALL = 200_000
BIG = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def portal(server_factory) -> Iterator[Any]:
    server = server_factory(
        {
            # a failing delivery dies after one attempt, so the test can replay it
            "TUSPORTAL_WEBHOOK_RETRY_WINDOW_SECONDS": "1",
            "TUSPORTAL_WEBHOOK_RETRY_MIN_SECONDS": "0.2",
        }
    )
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def test_every_page_renders(portal: Any, page: Any, screenshots: Path) -> None:
    for name, (path, heading) in PAGES.items():
        response = page.goto(portal.base + path)
        assert response.status == 200, (path, response.status)
        assert page.locator("h1").inner_text() == heading
        assert page.locator('meta[name="csrf-token"]').count() == 1
        page.screenshot(path=str(screenshots / f"empty-{name}.png"), full_page=True)
    # the Uppy Dashboard comes up from /static/vendor/ (no network beyond this server)
    page.goto(portal.base + "/upload")
    page.wait_for_function("window.uppy !== undefined")
    assert page.locator(".uppy-Dashboard").count() == 1
    missing = page.goto(portal.base + "/batches/b_unknown")
    assert missing.status == 404 and page.locator("h1").inner_text() == "Not found"
    bad = page.goto(portal.base + "/files?sort=password")
    assert bad.status == 400 and "sort must be one of" in page.locator("[role=alert]").inner_text()


def test_keyboard_reaches_a_control_with_a_visible_focus_style(portal: Any, page: Any) -> None:
    page.goto(portal.base + "/files")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    else:
        raise AssertionError("Tab never reached the name search field")
    style = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; })()"
    )
    assert style[0] == "solid" and style[1] == "3px", style
    # the skip link is the first stop and becomes visible when focused
    page.goto(portal.base + "/files")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["x"] >= 0


def add_webhook(page: Any, base: str, url: str, event_type: str) -> str:
    page.goto(base + "/webhooks")
    page.get_by_label("URL").fill(url)
    for box in page.locator('input[name="event_types"]').all():
        box.set_checked(box.get_attribute("value") == event_type)
    page.get_by_role("button", name="Create webhook").click()
    page.wait_for_selector("#created-webhook")
    assert page.get_by_label("Signing secret").input_value().startswith("whsec_")
    return page.locator("#created-webhook strong").inner_text()


def test_upload_batch_files_events_replay_delete(
    portal: Any, page: Any, browser: Any, receiver: Any, screenshots: Path, wait_until: Any
) -> None:
    base = portal.base
    api = httpx.Client(base_url=base, timeout=30)

    # two webhooks through the UI: one that answers 200, one that fails until told otherwise
    add_webhook(page, base, receiver.url + "/ok", "*")
    add_webhook(page, base, receiver.url + "/flaky", "tusportal.file.uploaded")
    hooks = api.get("/api/webhooks").json()["webhooks"]
    assert sorted(h["url"].rsplit("/", 1)[1] for h in hooks) == ["flaky", "ok"]
    page.screenshot(path=str(screenshots / "webhooks.png"), full_page=True)

    # Uppy: two files into a new batch, uploads slowed down so that one can be paused
    page.goto(base + "/upload")
    page.wait_for_function("window.uppy !== undefined")
    page.get_by_label("Batch", exact=True).select_option("new")
    page.get_by_label("New batch name").fill("e2e batch")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1024 * 1024},
    )
    ids = page.evaluate(
        f"""() => [["alpha-notes.txt", {SMALL}], ["beta-video.bin", {BIG}]].map(([name, size]) =>
            window.uppy.addFile({{ name, type: "application/octet-stream",
                                   data: new Blob([new Uint8Array(size).fill(7)]) }}))"""
    )
    page.screenshot(path=str(screenshots / "upload-ready.png"), full_page=True)
    page.evaluate("() => { window.uppy.upload(); }")  # without waiting for the promise
    big = ids[1]
    page.wait_for_function(
        f"window.uppy.getFile('{big}').progress.bytesUploaded > 0", timeout=30_000, polling=50
    )
    page.evaluate(f"window.uppy.pauseResume('{big}')")
    assert page.evaluate(f"window.uppy.getFile('{big}').isPaused") is True
    page.screenshot(path=str(screenshots / "upload-paused.png"), full_page=True)

    # the batch exists and waits for the paused file
    def batch_doc() -> dict[str, Any] | None:
        found = [b for b in api.get("/api/batches").json()["batches"] if b["name"] == "e2e batch"]
        return found[0] if found else None

    doc = wait_until(
        lambda: (d := batch_doc()) and d["files_total"] == 2 and d["files_completed"] == 1 and d,
        what="the small file to finish while the big one is paused",
    )
    assert doc["state"] == "open" and doc["bytes_received"] < SMALL + BIG
    time.sleep(1.0)
    held = batch_doc()
    assert held is not None and held["files_completed"] == 1  # paused: nothing finishes

    # the batch page, open in a second tab, shows the progress and follows it to completion
    watcher = page.context.new_page()
    watcher.goto(f"{base}/batches/{doc['id']}")
    assert watcher.locator("#batch-files").inner_text().startswith("1 of 2 files complete")
    assert watcher.locator("#batch").get_attribute("data-state") == "open"
    watcher.screenshot(path=str(screenshots / "batch-in-progress.png"), full_page=True)

    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.evaluate(f"window.uppy.pauseResume('{big}')")
    page.wait_for_function("window.lastBatch !== undefined", timeout=60_000)
    assert page.evaluate("window.lastBatch.state") == "completed"
    watcher.wait_for_selector('#batch[data-state="completed"]', timeout=30_000)
    assert watcher.locator("#batch-files").inner_text().startswith("2 of 2 files complete")
    assert "100%" in watcher.locator("#batch-bytes").inner_text()
    watcher.screenshot(path=str(screenshots / "batch-completed.png"), full_page=True)
    page.screenshot(path=str(screenshots / "upload-done.png"), full_page=True)
    final = api.get(f"/api/batches/{doc['id']}").json()
    assert final["bytes_received"] == SMALL + BIG
    assert sorted(f["filename"] for f in final["files"]) == ["alpha-notes.txt", "beta-video.bin"]

    # the file list: search by name, filter by batch and state
    page.goto(base + "/files?q=ALPHA")
    assert page.locator("tbody tr").count() == 1
    assert "alpha-notes.txt" in page.locator("tbody tr").inner_text()
    page.goto(base + "/files")
    page.get_by_label("Batch", exact=True).select_option(doc["id"])
    page.get_by_label("State").select_option("finished")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/files?*batch=*")
    assert page.locator("tbody tr").count() == 2
    page.screenshot(path=str(screenshots / "files.png"), full_page=True)
    page.goto(base + "/files?q=no-such-name")
    assert page.locator("tbody tr").count() == 0

    # the event monitor: file.uploaded events, delivered to /ok, dead at /flaky
    def monitor_rows(query: str) -> Any:
        page.goto(f"{base}/events?{query}")
        return page.locator("tr[data-event-type]")

    wait_until(
        lambda: monitor_rows("type=tusportal.file.uploaded&state=dead").count() == 2,
        what="both file.uploaded deliveries to the failing webhook to die",
    )
    wait_until(
        lambda: monitor_rows("type=tusportal.file.uploaded&state=delivered").count() == 2,
        what="both file.uploaded events delivered to /ok",
    )
    rows = monitor_rows("type=tusportal.file.uploaded")
    assert rows.count() == 2
    assert rows.first.locator('li[data-delivery-state="delivered"]').count() == 1
    assert rows.first.locator('li[data-delivery-state="dead"]').count() == 1
    assert monitor_rows("type=tusportal.batch.completed").count() == 1
    page.goto(f"{base}/events?type=tusportal.file.uploaded")
    page.locator("details summary").first.click()
    page.screenshot(path=str(screenshots / "events.png"), full_page=True)

    # replay a dead delivery once the receiver is healthy
    receiver.healthy.set()
    page.goto(f"{base}/events?state=dead")
    dead = page.locator('li[data-delivery-state="dead"]').first
    delivery_id = dead.get_attribute("data-delivery-id")
    dead.get_by_role("button", name="Replay").click()
    page.wait_for_url("**/events?state=dead")
    wait_until(
        lambda: api.get(f"/api/deliveries/{delivery_id}").json()["state"] == "delivered",
        what="the replayed delivery to arrive",
    )
    attempts = api.get(f"/api/deliveries/{delivery_id}").json()["attempt_log"]
    assert [a["outcome"] for a in attempts][-1] == "delivered" and len(attempts) >= 2
    page.goto(f"{base}/events?state=dead")
    assert page.locator(f'li[data-delivery-id="{delivery_id}"]').count() == 0

    # delete the small file from the list (the browser asks first)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(base + "/files?q=alpha")
    page.get_by_role("button", name="Delete alpha-notes.txt").click()
    page.wait_for_url("**/files?q=alpha")
    assert page.locator("tbody tr").count() == 0
    page.goto(base + "/files?q=alpha&state=terminated")
    assert page.locator("tbody tr").count() == 1
    alpha = next(f for f in final["files"] if f["filename"] == "alpha-notes.txt")
    assert api.head(alpha["url"], headers={"Tus-Resumable": "1.0.0"}).status_code == 404

    # the dashboard sums it up
    page.goto(base + "/")
    assert page.locator('[data-state-count="finished"]').inner_text() == "1"
    assert page.locator('[data-state-count="terminated"]').inner_text() == "1"
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
    page.goto(base + "/batches")
    page.screenshot(path=str(screenshots / "batches.png"), full_page=True)
