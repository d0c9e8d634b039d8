"""Two `tusportal serve` processes sharing PostgreSQL and one bucket on a real S3 server: uploads
move between them, survive a disconnect and a killed instance, and leave nothing behind."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}
MIB = 1 << 20


@pytest.fixture
def pair(server_factory, s3_server, s3_bucket):
    env = {
        **s3_server.env(s3_bucket),
        "TUSPORTAL_S3_PART_SIZE": str(5 * MIB),
        "TUSPORTAL_LOCK_LEASE_SECONDS": "2",
        "TUSPORTAL_LOCK_WAIT_SECONDS": "5",
        "TUSPORTAL_CHECKPOINT_BYTES": str(4 * MIB),
    }
    a = server_factory(env)
    b = server_factory(env, share=a)
    yield a, b
    a.stop(timeout=10)
    b.stop(timeout=10)


def pending_pieces(server) -> int:
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pending_pieces").fetchone()
    return int(row[0]) if row else 0


def create(url: str, length: int) -> str:
    r = httpx.post(url, headers={**TUS, "Upload-Length": str(length)}, timeout=10)
    assert r.status_code == 201, r.text
    return r.headers["location"]


def on(server, location: str) -> str:
    return server.url + location.rsplit("/", 1)[1]


def offset_of(location: str) -> int:
    r = httpx.head(location, headers=TUS, timeout=15)
    assert r.status_code == 200, r.text
    return int(r.headers["upload-offset"])


def patch(location: str, offset: int, body: bytes) -> int:
    r = httpx.patch(location, content=body, headers={**OCTET, "Upload-Offset": str(offset)}, timeout=60)
    assert r.status_code == 204, r.text
    return int(r.headers["upload-offset"])


def open_patch(location: str, offset: int, declared: int) -> socket.socket:
    parts = urlsplit(location)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
    )
    return sock


def download_digest(location: str) -> str:
    digest = hashlib.sha256()
    with httpx.stream("GET", location, timeout=60) as r:
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def leftovers(s3_server, bucket: str, upload_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    objects = [o for o in s3_server.objects(bucket) if o != upload_id]
    return objects, s3_server.multipart_uploads(bucket)


def test_patches_alternate_between_instances_with_a_disconnect(pair, s3_server, s3_bucket) -> None:
    a, b = pair
    data = os.urandom(16 * MIB + 4321)
    location = create(a.url, len(data))
    upload_id = location.rsplit("/", 1)[1]
    offset, turn = 0, 0
    disconnected = False
    while offset < len(data):
        server = (a, b)[turn % 2]
        turn += 1
        if not disconnected and offset >= 6 * MIB:
            # a client loses its connection to A in the middle of a 5 MiB PATCH
            sock = open_patch(on(a, location), offset, 5 * MIB)
            sock.sendall(data[offset : offset + 3 * MIB])
            time.sleep(0.5)
            sock.close()
            disconnected = True
            deadline = time.monotonic() + 10
            while offset_of(on(b, location)) == offset and time.monotonic() < deadline:
                time.sleep(0.1)
            kept = offset_of(on(b, location))
            assert kept == offset + 3 * MIB  # every received byte was stored and committed
            offset = kept
            continue
        n = min((MIB + 12345) * (1 + turn % 3), len(data) - offset)
        offset = patch(on(server, location), offset, data[offset : offset + n])
    assert offset_of(on(a, location)) == len(data)
    assert download_digest(on(b, location)) == hashlib.sha256(data).hexdigest()
    assert s3_server.objects(s3_bucket) == [upload_id]
    assert s3_server.multipart_uploads(s3_bucket) == []


def test_instance_killed_mid_patch_is_resumed_by_the_other(pair, s3_server, s3_bucket) -> None:
    a, b = pair
    data = os.urandom(20 * MIB)
    location = create(a.url, len(data))
    upload_id = location.rsplit("/", 1)[1]
    sock = open_patch(on(a, location), 0, len(data))
    sock.sendall(data[: 13 * MIB])
    time.sleep(1.0)  # two parts reach S3
    sock.sendall(data[13 * MIB : 13 * MIB + 256 * 1024])  # the next bytes: a checkpoint commits them
    time.sleep(0.5)
    a.kill()  # SIGKILL: nothing saved at the end, the lease is not released
    sock.close()
    offset = offset_of(on(b, location))  # waits for the dead holder's lease to lapse
    assert 0 < offset <= 13 * MIB
    assert offset % (5 * MIB) == 0  # checkpoints count only parts S3 acknowledged
    patch(on(b, location), offset, data[offset:])
    assert download_digest(on(b, location)) == hashlib.sha256(data).hexdigest()
    # what the killed PATCH uploaded past its last checkpoint is gone too
    assert leftovers(s3_server, s3_bucket, upload_id) == ([], [])


def test_termination_leaves_no_object_piece_or_multipart_upload(pair, s3_server, s3_bucket) -> None:
    a, b = pair
    data = os.urandom(8 * MIB)
    location = create(a.url, 20 * MIB)
    patch(on(a, location), 0, data[: 6 * MIB])  # a part and a piece
    patch(on(b, location), 6 * MIB, data[6 * MIB :])  # another piece
    assert pending_pieces(a) == 2  # in PostgreSQL, the default
    assert s3_server.multipart_uploads(s3_bucket)
    r = httpx.delete(on(b, location), headers=TUS, timeout=15)
    assert r.status_code == 204
    assert s3_server.objects(s3_bucket) == []
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert pending_pieces(a) == 0
    assert httpx.head(on(a, location), headers=TUS, timeout=10).status_code in (404, 410)


def test_expiry_cleanup_leaves_nothing(server_factory, s3_server, s3_bucket) -> None:
    env = {
        **s3_server.env(s3_bucket),
        "TUSPORTAL_S3_PART_SIZE": str(5 * MIB),
        "TUSPORTAL_EXPIRATION_SECONDS": "1",
    }
    server = server_factory(env)
    location = create(server.url, 20 * MIB)
    patch(location, 0, os.urandom(7 * MIB))
    assert s3_server.multipart_uploads(s3_bucket)
    time.sleep(1.5)
    result = subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "cleanup", "--data-dir", str(server.data_dir)],
        env={**os.environ, "TUSPORTAL_DATABASE_URL": server.database_url, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "expired 1 upload" in result.stdout
    assert s3_server.objects(s3_bucket) == []
    assert s3_server.multipart_uploads(s3_bucket) == []
    server.stop(timeout=10)


def test_readiness_reports_the_bucket(pair) -> None:
    a, _ = pair
    r = httpx.get(a.base + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    assert "ok" in r.text


def test_conformance_suite_passes_on_s3(server_factory, s3_server, s3_bucket) -> None:
    """The black-box tus suite, concatenation included, against a server that stores in S3."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    env = {**s3_server.env(s3_bucket), "TUSPORTAL_MAX_SIZE": str(1 << 30)}
    server = server_factory(env)
    root = Path(__file__).resolve().parents[2]
    args = ["conformance", "--tus-url", server.url, "-q", "-rs", "-p", "no:cacheprovider"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=root, capture_output=True, text=True, timeout=900
    )
    server.stop(timeout=10)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert int(re.search(r"(\d+) passed", summary).group(1)) >= 130, summary  # type: ignore[union-attr]
    assert "skipped" not in summary, summary
