"""Scale-out on one machine: two `tusportal serve` processes and two `tusportal worker` processes on
one PostgreSQL and one S3 bucket (SeaweedFS), under a bounded mixed load on loopback.

The load: creation-with-upload, uploads sent in several PATCHes that alternate between the two
servers, parallel uploads (partials on both servers, then the final), and uploads into a batch. The
servers run no event worker threads (`TUSPORTAL_EVENTS_WORKER_THREADS=0`), so the two workers
deliver every event. At the end every file reads back (GET) with its source's sha256, and every
event reached each subscription's receiver, a duplicate only ever carrying the same webhook-id.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "events"))

from events_support import (  # noqa: E402
    FAST,
    Receiver,
    assert_no_loss_no_foreign_duplicates,
    subscribe,
    wait_until,
    worker_factory,  # noqa: F401 - pytest fixture
)


def _storage_support() -> Any:
    """tests/storage/conftest.py's SeaweedFS fixture, loaded under its own name (a conftest is not
    importable from another folder)."""
    name = "tusportal_storage_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "storage" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


s3_server = _storage_support().s3_server  # pytest fixture (session): one SeaweedFS

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}
UPLOADS = 40  # 10 of each kind
LOAD_SECONDS = 60.0
KINDS = ("creation-with-upload", "multi-patch", "parallel", "batch")
FILE_EVENTS = ["tusportal.file.uploaded", "tusportal.batch.completed"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Sent:
    kind: str
    location: str
    sha256: str
    size: int

    @property
    def upload_id(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[1]


def _create(client: httpx.Client, url: str, headers: dict[str, str], body: bytes = b"") -> str:
    r = client.post(url, content=body, headers={**TUS, **headers, **(OCTET if body else {})})
    assert r.status_code == 201, r.text
    return r.headers["location"]


def _patch_in_pieces(
    client: httpx.Client, location: str, data: bytes, servers: list[Any], pieces: int
) -> None:
    """PATCH `data` in `pieces`, each through the next server; HEAD on the other one in between."""
    path = "/" + location.split("/", 3)[3]
    step = -(-len(data) // pieces)
    for n, start in enumerate(range(0, len(data), step)):
        server = servers[n % len(servers)]
        r = client.patch(
            server.base + path,
            content=data[start : start + step],
            headers={**OCTET, "Upload-Offset": str(start)},
        )
        assert r.status_code == 204, r.text
        head = client.head(servers[(n + 1) % len(servers)].base + path, headers=TUS)
        assert int(head.headers["upload-offset"]) == min(start + step, len(data))


def run_one(i: int, servers: list[Any], batch_id: str, concat: bool) -> Sent:
    rng = random.Random(i)
    size = 9 * 1024 * 1024 if i == 1 else rng.randint(1, 256 * 1024)  # one spans S3 parts
    data = rng.randbytes(size)
    digest = hashlib.sha256(data).hexdigest()
    first, second = servers[i % 2], servers[(i + 1) % 2]
    meta = f"filename {b64(f'f{i}.bin')}"
    with httpx.Client(timeout=60) as client:
        kind = KINDS[i % len(KINDS)]
        if kind == "creation-with-upload":
            loc = _create(client, first.url, {"Upload-Length": str(size), "Upload-Metadata": meta}, data)
            head = client.head(second.base + "/" + loc.split("/", 3)[3], headers=TUS)
            assert int(head.headers["upload-offset"]) == size
        elif kind == "multi-patch":
            loc = _create(client, first.url, {"Upload-Length": str(size), "Upload-Metadata": meta})
            _patch_in_pieces(client, loc, data, [second, first], 3)
        elif kind == "parallel" and concat:
            cut = sorted(rng.sample(range(1, size), 2)) if size > 2 else [size, size]
            bounds = [0, *cut, size]
            paths = []
            for n in range(3):
                part = data[bounds[n] : bounds[n + 1]]
                server = servers[(i + n) % 2]
                ploc = _create(
                    client, server.url, {"Upload-Length": str(len(part)), "Upload-Concat": "partial"}
                )
                if part:
                    _patch_in_pieces(client, ploc, part, [servers[(i + n + 1) % 2]], 1)
                paths.append("/" + ploc.split("/", 3)[3])
            loc = _create(
                client, second.url, {"Upload-Concat": "final;" + " ".join(paths), "Upload-Metadata": meta}
            )
        elif kind == "parallel":
            # a store that cannot concatenate: the server says so before any byte is
            # stored, and the client sends the file in one upload of deferred length instead
            r = client.post(first.url, headers={**TUS, "Upload-Length": "1", "Upload-Concat": "partial"})
            assert r.status_code == 400 and "concatenation" in r.text, r.text
            loc = _create(client, first.url, {"Upload-Defer-Length": "1", "Upload-Metadata": meta})
            path = "/" + loc.split("/", 3)[3]
            half = size // 2
            r = client.patch(second.base + path, content=data[:half], headers={**OCTET, "Upload-Offset": "0"})
            assert r.status_code == 204, r.text
            r = client.patch(
                first.base + path,
                content=data[half:],
                headers={**OCTET, "Upload-Offset": str(half), "Upload-Length": str(size)},
            )
            assert r.status_code == 204, r.text
        else:
            meta += f",batch {b64(batch_id)}"
            loc = _create(client, first.url, {"Upload-Length": str(size), "Upload-Metadata": meta})
            _patch_in_pieces(client, loc, data, [second, first], 2)
    return Sent(kind, loc, digest, size)


def _download_sha256(client: httpx.Client, url: str) -> str:
    h = hashlib.sha256()
    with client.stream("GET", url) as r:
        assert r.status_code == 200, r.read()
        for chunk in r.iter_bytes():
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def two_receivers() -> Any:
    receivers = [Receiver(), Receiver()]
    for r in receivers:
        r.start()
    yield receivers
    for r in receivers:
        r.stop()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_servers_two_workers_one_database_one_bucket(
    server_factory: Any,
    worker_factory: Any,  # noqa: F811 - the fixture imported above
    s3_server: Any,
    two_receivers: list[Receiver],
) -> None:
    bucket = s3_server.new_bucket()
    env = {**s3_server.env(bucket), **FAST, "TUSPORTAL_EVENTS_WORKER_THREADS": "0"}
    a = server_factory(env)
    everything, files = two_receivers
    all_id, files_id = subscribe(a, everything)["id"], subscribe(a, files, FILE_EVENTS)["id"]
    subs = {all_id: everything, files_id: files}
    b = server_factory(env, share=a)  # starts knowing both subscriptions
    servers = [a, b]
    workers = [worker_factory(a), worker_factory(a)]
    try:
        r = httpx.post(b.base + "/api/batches", json={"name": "scale-out", "expected_files": UPLOADS // 4})
        assert r.status_code == 201, r.text
        batch_id = r.json()["id"]

        extensions = httpx.options(a.url, headers=TUS).headers["tus-extension"].split(",")
        concat = "concatenation" in extensions

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            sent = list(
                pool.map(
                    lambda i: run_one(i, servers, batch_id, concat), range(UPLOADS), timeout=LOAD_SECONDS
                )
            )
        assert time.monotonic() - started < LOAD_SECONDS
        assert Counter(s.kind for s in sent) == dict.fromkeys(KINDS, UPLOADS // len(KINDS))

        # every file intact, read through either server
        with httpx.Client(timeout=60) as client:
            for n, s in enumerate(sent):
                path = "/" + s.location.split("/", 3)[3]
                assert _download_sha256(client, servers[n % 2].base + path) == s.sha256, s
        batch = httpx.get(f"{a.base}/api/batches/{batch_id}").json()
        assert batch["state"] == "completed", batch

        # every event, once per subscription (a duplicate only with the same webhook-id)
        with psycopg.connect(a.database_url) as conn:
            rows = conn.execute("SELECT id::text, type, upload_id, batch_id, data FROM events").fetchall()
        wanted = {
            all_id: {row[0] for row in rows},
            files_id: {row[0] for row in rows if row[1] in FILE_EVENTS},
        }
        for sub, ids in wanted.items():
            receiver = subs[sub]
            wait_until(lambda r=receiver, ids=ids: ids <= r.ids(), 60, "every event delivered")
            received = receiver.events()
            assert_no_loss_no_foreign_duplicates(received, ids)
            assert receiver.ids() == ids, "nothing but the subscription's events arrives"
            assert {r.body["id"] for r in received} == ids

        uploaded = [row for row in rows if row[1] == "tusportal.file.uploaded"]
        assert sorted(row[2] for row in uploaded) == sorted(s.upload_id for s in sent), "one per file"
        by_upload = {row[2]: row[4] for row in uploaded}
        for s in sent:
            assert by_upload[s.upload_id]["sha256"] == s.sha256
            assert by_upload[s.upload_id]["size"] == s.size
        completed = [row for row in rows if row[1] == "tusportal.batch.completed"]
        assert [row[3] for row in completed] == [batch_id]
        assert completed[0][4]["file_count"] == UPLOADS // 4

        with psycopg.connect(a.database_url) as conn:
            states = conn.execute(
                "SELECT subscription_id, state, count(*) FROM webhook_deliveries GROUP BY 1, 2"
            ).fetchall()
        assert {(sub, state): n for sub, state, n in states} == {
            (sub, "delivered"): len(ids) for sub, ids in wanted.items()
        }
        # both workers took part
        for worker in workers:
            assert '"webhook_attempt"' in worker.logs(), "a worker delivered nothing"
        for server in servers:
            assert '"webhook_attempt"' not in server.logs()
    finally:
        for worker in workers:
            worker.stop()
        for server in servers:
            server.stop()
