"""Batches over HTTP: the JSON API, joining through Upload-Metadata, progress, exactly-once
completion under concurrent finishing uploads on several processes, and a restart mid-batch."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def api(server) -> str:
    return server.base + "/api/batches"


def new_batch(server, **body) -> dict:
    r = httpx.post(api(server), json={"name": "set", **body})
    assert r.status_code == 201, r.text
    return r.json()


def upload(url: str, data: bytes, batch: str | None, name: str = "f.bin", *, send: bool = True) -> str:
    meta = f"filename {b64(name)}" + (f",batch {b64(batch)}" if batch else "")
    r = httpx.post(url, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    if send:
        assert httpx.patch(loc, content=data, headers={**OCTET, "Upload-Offset": "0"}).status_code == 204
    return loc


def test_batch_api_lifecycle(tus_server) -> None:
    doc = new_batch(tus_server, expected_files=None, metadata={"case": 7})
    assert doc["state"] == "open" and doc["files"] == [] and doc["metadata"] == {"case": 7}
    for key in ("id", "name", "state", "files", "bytes_received", "bytes_total"):
        assert key in doc
    got = httpx.get(f"{api(tus_server)}/{doc['id']}").json()
    assert got["id"] == doc["id"]
    listed = httpx.get(api(tus_server), params={"state": "open"}).json()["batches"]
    assert doc["id"] in [b["id"] for b in listed]
    sealed = httpx.post(f"{api(tus_server)}/{doc['id']}/seal").json()
    assert sealed["state"] == "completed"  # sealed with nothing to wait for
    other = new_batch(tus_server)
    assert httpx.post(f"{api(tus_server)}/{other['id']}/cancel").json()["state"] == "cancelled"
    r = httpx.post(f"{api(tus_server)}/{other['id']}/seal")
    assert r.status_code == 409 and "cancelled" in r.text
    assert httpx.get(f"{api(tus_server)}/nope").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": 5}, {"name": "x", "expected_files": 0}, {"name": "x", "bogus": 1}, "[]"],
)
def test_bad_batch_requests_get_400_with_a_message(tus_server, body) -> None:
    r = httpx.post(api(tus_server), content=json.dumps(body) if not isinstance(body, str) else body)
    assert r.status_code == 400 and r.text
    r = httpx.post(api(tus_server), content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.text
    assert httpx.get(api(tus_server), params={"limit": "x"}).status_code == 400


def test_unknown_or_sealed_batch_rejected_before_any_byte_is_stored(tus_server) -> None:
    files = tus_server.data_dir / "files"
    before = set(os.listdir(files))
    meta = f"filename {b64('a')},batch {b64('b_unknown')}"
    r = httpx.post(
        tus_server.url,
        content=b"x" * 1000,
        headers={**OCTET, "Upload-Length": "1000", "Upload-Metadata": meta},
    )
    assert r.status_code == 400 and "unknown batch" in r.text
    assert set(os.listdir(files)) == before
    batch = new_batch(tus_server)
    httpx.post(f"{api(tus_server)}/{batch['id']}/seal")
    meta = f"batch {b64(batch['id'])}"
    r = httpx.post(tus_server.url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": meta})
    assert r.status_code == 400 and "completed" in r.text


def test_progress_and_completion_by_expected_count(tus_server) -> None:
    batch = new_batch(tus_server, expected_files=2)
    a = upload(tus_server.url, b"a" * 1000, batch["id"], "a.bin", send=False)
    httpx.patch(a, content=b"a" * 400, headers={**OCTET, "Upload-Offset": "0"})
    doc = httpx.get(f"{api(tus_server)}/{batch['id']}").json()
    assert (doc["bytes_received"], doc["bytes_total"], doc["files_total"]) == (400, 1000, 1)
    assert doc["files"][0]["filename"] == "a.bin" and doc["files"][0]["bytes_received"] == 400
    upload(tus_server.url, b"b" * 500, batch["id"], "b.bin")
    assert httpx.get(f"{api(tus_server)}/{batch['id']}").json()["state"] == "open"
    # the expected count is reached: a third file is refused
    meta = f"batch {b64(batch['id'])}"
    r = httpx.post(tus_server.url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": meta})
    assert r.status_code == 400
    httpx.patch(a, content=b"a" * 600, headers={**OCTET, "Upload-Offset": "400"})
    doc = httpx.get(f"{api(tus_server)}/{batch['id']}").json()
    assert doc["state"] == "completed" and doc["completed_at"]
    assert (doc["bytes_received"], doc["bytes_total"], doc["files_completed"]) == (1500, 1500, 2)


def test_parallel_upload_counts_as_one_file(tus_server) -> None:
    batch = new_batch(tus_server)
    parts = []
    for data in (b"x" * 300, b"y" * 200):
        r = httpx.post(
            tus_server.url, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Concat": "partial"}
        )
        parts.append((r.headers["location"], data))
    httpx.patch(parts[0][0], content=parts[0][1], headers={**OCTET, "Upload-Offset": "0"})
    paths = " ".join("/" + loc.split("/", 3)[3] for loc, _ in parts)
    meta = f"filename {b64('big.bin')},batch {b64(batch['id'])}"
    r = httpx.post(
        tus_server.url, headers={**TUS, "Upload-Concat": "final;" + paths, "Upload-Metadata": meta}
    )
    assert r.status_code == 201, r.text
    doc = httpx.get(f"{api(tus_server)}/{batch['id']}").json()
    assert doc["files_total"] == 1 and doc["bytes_received"] == 300 and doc["bytes_total"] == 500
    httpx.post(f"{api(tus_server)}/{batch['id']}/seal")
    assert httpx.get(f"{api(tus_server)}/{batch['id']}").json()["state"] == "sealed"
    httpx.patch(parts[1][0], content=parts[1][1], headers={**OCTET, "Upload-Offset": "0"})
    doc = httpx.get(f"{api(tus_server)}/{batch['id']}").json()
    assert doc["state"] == "completed" and doc["bytes_received"] == 500


def _client_process(urls: list[str], batch_id: str, count: int, seed: int) -> list[str]:
    """One client process: starts `count` uploads, then finishes them, alternating servers."""
    locs = []
    for i in range(count):
        data = bytes([seed]) * (1000 + i)
        locs.append((upload(urls[i % len(urls)], data, batch_id, f"p{seed}-{i}", send=False), data))
    for loc, data in locs:
        r = httpx.patch(loc, content=data, headers={**OCTET, "Upload-Offset": "0"}, timeout=30)
        assert r.status_code == 204, r.text
    return [loc for loc, _ in locs]


def test_concurrent_uploads_from_several_processes_complete_the_batch_once(server_factory) -> None:
    a = server_factory()
    b = server_factory(share=a)
    batch = new_batch(a, expected_files=24)
    with ProcessPoolExecutor(4) as pool:
        futures = [pool.submit(_client_process, [a.url, b.url], batch["id"], 6, seed) for seed in range(4)]
        results = [f.result(timeout=120) for f in futures]
    assert sum(len(r) for r in results) == 24
    doc = httpx.get(f"{api(a)}/{batch['id']}").json()
    assert doc["state"] == "completed" and doc["files_completed"] == 24
    completions = 0
    for server in (a, b):
        for line in server.logs().splitlines():
            if '"batch_completed"' in line and batch["id"] in line:
                completions += 1
    assert completions == 1
    import psycopg

    with psycopg.connect(a.database_url) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE type = 'tusportal.batch.completed' AND subject = %s",
            (batch["id"],),
        ).fetchall()
    assert len(rows) == 1  # the event recorded with the completion, exactly once
    assert rows[0][0]["file_count"] == 24 and len(rows[0][0]["files"]) == 24


def test_batch_state_survives_a_restart_mid_batch(server_factory) -> None:
    server = server_factory()
    batch = new_batch(server)
    done = upload(server.url, b"1" * 100, batch["id"])
    pending = upload(server.url, b"2" * 100, batch["id"], send=False)
    httpx.patch(pending, content=b"2" * 40, headers={**OCTET, "Upload-Offset": "0"})
    server.stop(signal.SIGTERM)
    server.start()
    doc = httpx.get(f"{api(server)}/{batch['id']}").json()
    assert doc["state"] == "open" and doc["bytes_received"] == 140 and doc["files_completed"] == 1
    httpx.post(f"{api(server)}/{batch['id']}/seal")
    r = httpx.patch(pending, content=b"2" * 60, headers={**OCTET, "Upload-Offset": "40"})
    assert r.status_code == 204
    deadline = time.monotonic() + 5
    while httpx.get(f"{api(server)}/{batch['id']}").json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done
