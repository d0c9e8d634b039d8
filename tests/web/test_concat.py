"""Parallel uploads: partial removal after assembly, and a crash during assembly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def partial(url: str, data: bytes, *, send: bool = True) -> str:
    r = httpx.post(url, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Concat": "partial"})
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    if send:
        assert httpx.patch(loc, content=data, headers={**OCTET, "Upload-Offset": "0"}).status_code == 204
    return loc


def path_of(loc: str) -> str:
    return "/" + loc.split("/", 3)[3]


def upload_id(loc: str) -> str:
    return loc.rsplit("/", 1)[1]


def start_assembly(server, locs: list[str], answers: list[httpx.Response]) -> threading.Thread:
    """POST the final of `locs` on a thread (the request assembles it) and return once the
    assembly is under way; the answer, if one comes, is appended to `answers`."""
    value = "final;" + " ".join(map(path_of, locs))

    def create_final() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server may die under this request
            answers.append(httpx.post(server.url, headers={**TUS, "Upload-Concat": value}, timeout=60))

    t = threading.Thread(target=create_final)
    t.start()
    files = server.data_dir / "files"
    deadline = time.monotonic() + 10
    while not list(files.glob("*.assembling")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(files.glob("*.assembling")), "assembly never started"
    return t


def test_partials_are_removed_after_the_final_completes(tus_server) -> None:
    parts = [os.urandom(200_000) for _ in range(3)]
    locs = [partial(tus_server.url, p) for p in parts]
    r = httpx.post(tus_server.url, headers={**TUS, "Upload-Concat": "final;" + " ".join(map(path_of, locs))})
    assert r.status_code == 201
    final = r.headers["location"]
    got = httpx.get(final)
    assert got.status_code == 200 and got.content == b"".join(parts)
    files = tus_server.data_dir / "files"
    for loc in locs:
        assert not (files / upload_id(loc)).exists()
        assert httpx.head(loc, headers=TUS).status_code == 404
        assert httpx.get(loc).status_code == 404
    assert (files / upload_id(final)).exists()


def test_partial_is_not_downloadable(tus_server) -> None:
    loc = partial(tus_server.url, b"abc")
    assert httpx.get(loc).status_code == 404


def test_crash_during_assembly_completes_after_restart(server_factory) -> None:
    server = server_factory({"TUSPORTAL_CONCAT_PAUSE_SECONDS": "1.5"})
    parts = [os.urandom(1 << 20) for _ in range(4)]
    locs = [partial(server.url, p) for p in parts]
    t = start_assembly(server, locs, [])
    files = server.data_dir / "files"
    time.sleep(0.5)
    server.kill()  # SIGKILL in the middle of assembly
    t.join(30)
    import psycopg

    with psycopg.connect(server.database_url) as conn:
        row = conn.execute(
            "SELECT id, state, upload_offset FROM uploads WHERE concat_kind = 'final'"
            " ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    final_id, state, offset = row
    assert state == "active" and offset == 0  # never looks complete before it is
    assert not (files / final_id).exists()
    server.start()  # start-up recovery assembles it again
    final = f"{server.url}{final_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        head = httpx.head(final, headers=TUS)
        if head.headers.get("upload-offset") == str(4 << 20):
            break
        time.sleep(0.2)
    got = httpx.get(final, timeout=30)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(b"".join(parts)).digest()


def test_an_assembly_longer_than_the_lease_survives_head_polling(server_factory) -> None:
    """A client polls HEAD on a final upload whose assembly takes longer than the lease (big
    files, S3). The HEADs answer at once, the assembler's lease is renewed, and one assembly
    finishes. Before, the lapsed lease was taken over (by a HEAD, or by the assembly a HEAD
    started), so every assembly was lost in turn while the polling went on."""
    import psycopg

    env = {"TUSPORTAL_CONCAT_PAUSE_SECONDS": "0.6", "TUSPORTAL_LOCK_LEASE_SECONDS": "1"}
    server = server_factory(env)
    parts = [os.urandom(1 << 20) for _ in range(4)]
    locs = [partial(server.url, p) for p in parts]
    answer: list[httpx.Response] = []
    t = start_assembly(server, locs, answer)
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT id FROM uploads WHERE concat_kind = 'final'").fetchone()
    assert row is not None
    final = f"{server.url}{row[0]}"
    heads = []
    while t.is_alive() and len(heads) < 300:
        heads.append(httpx.head(final, headers=TUS, timeout=30).status_code)
        time.sleep(0.05)
    t.join(60)
    assert heads and set(heads) == {200}
    assert answer and answer[0].status_code == 201
    head = httpx.head(final, headers=TUS)
    assert head.headers["upload-offset"] == str(4 << 20)
    got = httpx.get(final, timeout=30)
    assert (
        got.status_code == 200
        and hashlib.sha256(got.content).digest() == hashlib.sha256(b"".join(parts)).digest()
    )
