"""The cleanup jobs (`tusportal cleanup`, and scheduled in `tusportal worker`): leftover bytes of
terminated and expired uploads, events past retention with their deliveries and attempts, a dry run
that changes nothing, and what each run logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cli_support import logged, run_tusportal

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "events"))

from events_support import (  # noqa: E402
    FAST,
    Receiver,
    subscribe,
    upload,
    wait_until,
    worker_factory,  # noqa: F401 - pytest fixture
)
from events_support import receiver as receiver  # noqa: E402 - pytest fixture
from test_scale_out import s3_server as s3_server  # noqa: E402 - pytest fixture (SeaweedFS)

TUS = {"Tus-Resumable": "1.0.0"}


def cleanup(server: Any, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = run_tusportal(
        "cleanup",
        *args,
        "--data-dir",
        str(server.data_dir),
        env={"TUSPORTAL_DATABASE_URL": server.database_url, "TUSPORTAL_LOG_FORMAT": "json", **(env or {})},
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def sql(server: Any, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def test_leftover_bytes_of_terminated_uploads_are_removed_once(server_factory: Any) -> None:
    server = server_factory({"TUSPORTAL_EVENTS_WORKER_THREADS": "0"})
    kept, left = upload(server, b"k" * 100), upload(server, b"x" * 1000)
    files = server.data_dir / "files"
    assert (files / left).exists()
    # a termination whose delete never happened (a crash between commit and delete), an hour ago
    sql(
        server,
        "UPDATE uploads SET state = 'terminated', updated_at = now() - interval '1 hour' WHERE id = %s",
        (left,),
    )

    dry = cleanup(server, "--dry-run")
    assert "would remove leftover bytes of 1 terminated or expired upload(s)" in dry.stdout
    assert left in dry.stdout and (files / left).exists()
    assert logged(dry, "cleanup_leftovers_removed")["dry_run"] is True

    run = cleanup(server)
    assert "removed leftover bytes of 1 terminated or expired upload(s)" in run.stdout, run.stdout
    assert not (files / left).exists() and (files / kept).exists()
    entry = logged(run, "cleanup_leftovers_removed")
    assert entry["count"] == 1 and entry["upload_ids"] == [left]
    assert logged(run, "cleanup_finished")["leftovers"] == 1
    assert httpx.head(f"{server.url}{left}", headers=TUS).status_code in (404, 410)

    again = cleanup(server)
    assert "removed leftover bytes of 0 terminated" in again.stdout
    server.stop()


def test_leftovers_on_s3_include_pending_pieces_and_multipart_uploads(
    server_factory: Any, s3_server: Any
) -> None:
    bucket = s3_server.new_bucket()
    env = {**s3_server.env(bucket), "TUSPORTAL_S3_PART_SIZE": str(5 * 1024 * 1024)}
    server = server_factory(env)
    mib = 1024 * 1024
    r = httpx.post(server.url, headers={**TUS, "Upload-Length": str(20 * mib)})
    location = r.headers["location"]
    octet = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert (
        httpx.patch(location, content=os.urandom(7 * mib + 5), headers=octet, timeout=60).status_code == 204
    )
    # a part in the multipart upload; the 2 MiB after it a pending piece (in PostgreSQL by default)
    assert s3_server.multipart_uploads(bucket)
    assert sql(server, "SELECT count(*) FROM pending_pieces") == [(1,)]
    server.stop()
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    sql(
        server,
        "UPDATE uploads SET state = 'terminated', updated_at = now() - interval '1 hour' WHERE id = %s",
        (upload_id,),
    )
    run = cleanup(server, env=env)
    assert logged(run, "cleanup_leftovers_removed")["upload_ids"] == [upload_id]
    assert s3_server.objects(bucket) == []
    assert s3_server.multipart_uploads(bucket) == []
    assert sql(server, "SELECT count(*) FROM pending_pieces") == [(0,)]


def test_events_past_retention_go_with_their_deliveries(server_factory: Any, receiver: Receiver) -> None:
    server = server_factory(FAST)
    subscribe(server, receiver)
    old, pending, recent = (upload(server, bytes([n]) * 10) for n in range(3))
    wait_until(lambda: len(receiver.ids()) >= 6, 30, "6 events delivered")  # created + uploaded, each
    server.stop()
    month = "now() - interval '31 days'"
    sql(server, f"UPDATE events SET time = {month} WHERE upload_id = ANY(%s)", ([old, pending],))
    sql(
        server,
        "UPDATE webhook_deliveries SET state = 'pending' FROM events e"
        " WHERE e.id = event_id AND e.upload_id = %s AND e.type = 'tusportal.file.uploaded'",
        (pending,),
    )
    attempts = sql(
        server,
        "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
        " JOIN events e ON e.id = d.event_id WHERE e.upload_id = %s",
        (old,),
    )[0][0]
    assert attempts >= 2
    # old: both events go; pending: only upload.created (its file.uploaded delivery is pending)
    expected = f"{3} event(s) past retention, with 3 delivery(ies) and "

    dry = cleanup(server, "--dry-run")
    assert "would remove " + expected in dry.stdout, dry.stdout
    assert sql(server, "SELECT count(*) FROM events")[0][0] == 6

    run = cleanup(server)
    assert "removed " + expected in run.stdout, run.stdout
    entry = logged(run, "cleanup_events_removed")
    assert (entry["events"], entry["deliveries"]) == (3, 3) and entry["attempts"] >= attempts + 1
    left = sql(server, "SELECT upload_id, type FROM events ORDER BY upload_id, type")
    assert sorted(left) == sorted(
        [
            (pending, "tusportal.file.uploaded"),
            (recent, "tusportal.file.uploaded"),
            (recent, "tusportal.upload.created"),
        ]
    )
    assert sql(server, "SELECT count(*) FROM webhook_deliveries")[0][0] == 3
    orphans = sql(
        server,
        "SELECT count(*) FROM webhook_attempts a"
        " WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id)",
    )
    assert orphans == [(0,)]

    # a shorter retention takes the recent ones too (not the pending one)
    short = cleanup(server, env={"TUSPORTAL_EVENT_RETENTION_SECONDS": "0.001"})
    assert "removed 2 event(s)" in short.stdout
    assert sql(server, "SELECT upload_id FROM events") == [(pending,)]


@pytest.mark.timeout(120)
def test_worker_runs_the_cleanup_on_its_schedule(server_factory: Any, worker_factory: Any) -> None:  # noqa: F811
    server = server_factory({"TUSPORTAL_EXPIRATION_SECONDS": "1", "TUSPORTAL_EVENTS_WORKER_THREADS": "0"})
    r = httpx.post(server.url, headers={**TUS, "Upload-Length": "100"})
    upload_id = r.headers["location"].rstrip("/").rsplit("/", 1)[1]
    octet = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert httpx.patch(r.headers["location"], content=b"x" * 10, headers=octet).status_code == 204
    path = server.data_dir / "files" / upload_id
    assert path.exists()
    time.sleep(1.2)
    worker = worker_factory(server, {"TUSPORTAL_CLEANUP_INTERVAL_SECONDS": "1"})
    wait_until(lambda: not path.exists(), 30, "the worker's cleanup")
    wait_until(lambda: '"cleanup_finished"' in worker.logs(), 10, "cleanup_finished logged")
    assert '"cleanup_uploads_expired"' in worker.logs()
    assert httpx.head(r.headers["location"], headers=TUS).status_code == 410
    runs = worker.logs().count('"cleanup_finished"')
    wait_until(lambda: worker.logs().count('"cleanup_finished"') > runs, 10, "a second run")
    worker.stop()
    assert '"cleanup_failed"' not in worker.logs()


def test_worker_without_schedule_never_cleans_up(server_factory: Any, worker_factory: Any) -> None:  # noqa: F811
    server = server_factory({"TUSPORTAL_EVENTS_WORKER_THREADS": "0"})
    worker = worker_factory(server, {"TUSPORTAL_CLEANUP_INTERVAL_SECONDS": "0"})
    time.sleep(1.5)
    worker.stop()
    assert '"cleanup_' not in worker.logs()
