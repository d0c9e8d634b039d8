"""White-box checks of the running server that the black-box conformance suite cannot make:
crash reconciliation against the files on disk, expiry and cleanup, proxies, logs."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def create(url: str, length: int, **headers: str) -> str:
    r = httpx.post(url, headers={**TUS, "Upload-Length": str(length), **headers})
    assert r.status_code == 201, r.text
    return r.headers["location"]


def patch(location: str, offset: int, data: bytes, **headers: str) -> httpx.Response:
    return httpx.patch(location, content=data, headers={**OCTET, "Upload-Offset": str(offset), **headers})


def head(location: str) -> httpx.Response:
    return httpx.head(location, headers=TUS)


def upload_id(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


def test_create_patch_head_get_roundtrip(tus_url: str) -> None:
    data = os.urandom(300_000)
    loc = create(tus_url, len(data), **{"Upload-Metadata": "filename " + base64.b64encode(b"a.bin").decode()})
    assert patch(loc, 0, data[:100_000]).headers["upload-offset"] == "100000"
    r = patch(loc, 100_000, data[100_000:])
    assert r.status_code == 204 and r.headers["upload-offset"] == str(len(data))
    assert "upload-expires" not in r.headers  # finished uploads no longer expire
    got = httpx.get(loc)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert 'filename="a.bin"' in got.headers["content-disposition"]


def test_garbage_past_committed_offset_is_truncated(tus_server) -> None:
    """After a crash, bytes on disk beyond the committed offset are discarded on the next request."""
    loc = create(tus_server.url, 1000)
    assert patch(loc, 0, b"a" * 400).status_code == 204
    path = tus_server.data_dir / "files" / upload_id(loc)
    with open(path, "ab") as f:  # what a crash between write and commit leaves behind
        f.write(b"GARBAGE" * 10)
    assert head(loc).headers["upload-offset"] == "400"
    assert patch(loc, 400, b"b" * 600).status_code == 204
    assert path.read_bytes() == b"a" * 400 + b"b" * 600


def test_offset_lowered_when_storage_lost_bytes(tus_server) -> None:
    """A power cut can lose page-cache bytes that were committed: HEAD must not promise them."""
    loc = create(tus_server.url, 1000)
    assert patch(loc, 0, b"a" * 700).status_code == 204
    path = tus_server.data_dir / "files" / upload_id(loc)
    os.truncate(path, 300)
    assert head(loc).headers["upload-offset"] == "300"
    assert patch(loc, 300, b"c" * 700).status_code == 204
    assert path.read_bytes() == b"a" * 300 + b"c" * 700


def test_body_beyond_length_stores_nothing_even_when_chunked(tus_server) -> None:
    loc = create(tus_server.url, 10)

    def chunks():
        yield b"12345"
        yield b"6789012345"

    r = httpx.patch(loc, content=chunks(), headers={**OCTET, "Upload-Offset": "0"})
    assert r.status_code == 413
    assert head(loc).headers["upload-offset"] == "0"
    path = tus_server.data_dir / "files" / upload_id(loc)
    assert not path.exists() or path.stat().st_size == 0


def test_expired_upload_answers_410_and_cleanup_removes_bytes(server_factory) -> None:
    server = server_factory({"TUSPORTAL_EXPIRATION_SECONDS": "1"})
    loc = create(server.url, 100)
    assert patch(loc, 0, b"x" * 10).status_code == 204
    path = server.data_dir / "files" / upload_id(loc)
    assert path.exists()
    time.sleep(1.5)
    assert head(loc).status_code == 410
    assert patch(loc, 10, b"y").status_code == 410
    env = {**os.environ, "TUSPORTAL_DATABASE_URL": server.database_url}
    dry = subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "cleanup", "--dry-run", "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 0 and upload_id(loc) in dry.stdout
    assert path.exists()
    run = subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "cleanup", "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and upload_id(loc) in run.stdout, run.stderr
    assert not path.exists()
    assert head(loc).status_code == 410


def test_location_uses_public_base_url(server_factory) -> None:
    server = server_factory({"TUSPORTAL_PUBLIC_BASE_URL": "https://up.example.com/"})
    loc = create(server.url, 5)
    assert loc.startswith("https://up.example.com/files/")


def test_location_from_forwarded_headers_only_when_trusted(tus_server, server_factory) -> None:
    fwd = {"X-Forwarded-Host": "proxy.example", "X-Forwarded-Proto": "https"}
    assert create(tus_server.url, 5, **fwd).startswith(f"http://127.0.0.1:{tus_server.port}/files/")
    trusting = server_factory({"TUSPORTAL_TRUST_PROXY_HEADERS": "true"})
    assert create(trusting.url, 5, **fwd).startswith("https://proxy.example/files/")
    assert create(trusting.url, 5, Forwarded='for=1.2.3.4;proto=https;host="fw.example:8443"').startswith(
        "https://fw.example:8443/files/"
    )
    # a header-injection attempt through the forwarded host is ignored
    assert create(trusting.url, 5, **{"X-Forwarded-Host": "evil.example/<x>"}).startswith(
        f"http://127.0.0.1:{trusting.port}/files/"
    )


def test_upload_ids_are_unguessable(tus_url: str) -> None:
    ids = {upload_id(create(tus_url, 1)) for _ in range(20)}
    assert len(ids) == 20
    for i in ids:
        assert len(base64.urlsafe_b64decode(i + "=" * (-len(i) % 4))) * 8 >= 128


def test_metadata_stored_raw_and_decoded(tus_server) -> None:
    raw = "filename " + base64.b64encode("résumé.pdf".encode()).decode() + ",flag"
    loc = create(tus_server.url, 3, **{"Upload-Metadata": raw})
    assert head(loc).headers["upload-metadata"] == raw
    with psycopg.connect(tus_server.database_url) as conn:
        row = conn.execute("SELECT metadata FROM uploads WHERE id = %s", (upload_id(loc),)).fetchone()
    assert row is not None and row[0] == {"filename": "résumé.pdf", "flag": None}


def test_migrate_command_reports_current_version(tus_server) -> None:
    env = {**os.environ, "TUSPORTAL_DATABASE_URL": tus_server.database_url}
    out = subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    from tusportal.state.migrations import latest_version

    assert f"schema at version {latest_version()}" in out.stdout


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "HEAD"])
def test_method_override(tus_url: str, method: str) -> None:
    loc = create(tus_url, 4)
    headers = {**OCTET, "Upload-Offset": "0", "X-HTTP-Method-Override": method}
    r = httpx.post(loc, content=b"abcd" if method == "PATCH" else b"", headers=headers)
    assert r.status_code == {"PATCH": 204, "DELETE": 204, "HEAD": 200}[method]
    after = head(loc)
    if method == "DELETE":
        assert after.status_code == 404
    elif method == "PATCH":
        assert after.headers["upload-offset"] == "4"


def test_readyz_names_each_check_and_metrics_are_exposed(tus_server) -> None:
    ready = httpx.get(tus_server.base + "/readyz").json()
    assert ready["status"] == "ok"
    assert {"database", "storage", "migrations"} <= set(ready["checks"])
    loc = create(tus_server.url, 3)
    assert patch(loc, 0, b"abc").status_code == 204
    text = httpx.get(tus_server.base + "/metrics").text
    for name in (
        "tusportal_http_requests_total",
        "tusportal_bytes_received_total",
        'tusportal_uploads_total{event="finished"}',
        "tusportal_outbox_backlog",
        "tusportal_active_patches",
    ):
        assert name in text, name
    r = httpx.get(tus_server.base + "/healthz", headers={"X-Request-ID": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
