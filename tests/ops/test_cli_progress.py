"""Progress of long commands: `tusportal migrate`, `cleanup` and `webhook replay` report what they
do as they go, human-readable, on stderr; stdout keeps only the result; `--quiet` silences them.
Run as subprocesses against a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cli_support import run_tusportal

from tusportal.state import migrations

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def tusportal(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_tusportal(
        args[0],
        "--data-dir",
        str(data_dir),
        *args[1:],
        env={
            "TUSPORTAL_DATABASE_URL": database_url,
            "TUSPORTAL_LOG_FORMAT": "json",  # log lines are JSON: every other stderr line is progress
        },
        clean=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def progress_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line and not line.startswith("{")]


def sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def test_migrate_reports_each_migration_on_stderr(postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()
    first = tusportal(url, tmp_path, "migrate")
    latest = migrations.latest_version()
    assert first.stdout == f"schema at version {latest}\n"  # the result alone
    lines = progress_lines(first)
    expected = [f"migration {m.version:04d}_{m.name}: applied in " for m in migrations.available()]
    assert [line[: len(e)] for line, e in zip(lines, expected, strict=True)] == expected, lines
    assert all(line.endswith(" s") for line in lines)

    again = tusportal(url, tmp_path, "migrate")
    assert progress_lines(again) == ["migrations: none pending"]
    quiet = tusportal(url, tmp_path, "migrate", "--quiet")
    assert progress_lines(quiet) == [] and quiet.stdout == f"schema at version {latest}\n"


def test_cleanup_reports_counts_and_bytes_per_job(server_factory: Any) -> None:
    server = server_factory({"TUSPORTAL_EVENTS_WORKER_THREADS": "0"})
    url, data_dir = server.database_url, server.data_dir
    idle = []
    for size in (300, 700):
        created = httpx.post(server.url, headers={**TUS, "Upload-Length": "5000"})
        location = created.headers["location"]
        sent = httpx.patch(location, content=b"i" * size, headers={**OCTET, "Upload-Offset": "0"})
        assert sent.status_code == 204
        idle.append(location.rsplit("/", 1)[1])
    gone = httpx.post(server.url, content=b"g" * 1234, headers={**OCTET, "Upload-Length": "1234"})
    gone_id = gone.headers["location"].rsplit("/", 1)[1]
    sql(url, "UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = ANY(%s)", (idle,))
    # a termination whose delete never happened, an hour ago: leftover bytes
    sql(
        url,
        "UPDATE uploads SET state = 'terminated', updated_at = now() - interval '1 hour' WHERE id = %s",
        (gone_id,),
    )

    dry = tusportal(url, data_dir, "cleanup", "--dry-run")
    assert "expired uploads: done, 2 would expire, 1000 bytes" in progress_lines(dry), dry.stderr
    assert "leftover bytes: done, 1 would remove, 1.2 KiB" in progress_lines(dry), dry.stderr

    run = tusportal(url, data_dir, "cleanup")
    assert progress_lines(run) == [
        "migrations: none pending",
        "expired uploads: done, 2 expired, 1000 bytes",
        "consumed partial uploads: done, 0 removed, 0 bytes",
        "leftover bytes: done, 1 removed, 1.2 KiB",
        "old events: done, 0 removed",
        "dead sessions, tokens and login counters: done, 0 removed",
    ], run.stderr
    assert "done," not in run.stdout and "expired 2 upload(s)" in run.stdout  # the summary alone
    assert not (data_dir / "files" / gone_id).exists()

    quiet = tusportal(url, data_dir, "cleanup", "--quiet")
    assert progress_lines(quiet) == [] and "expired 0 upload(s)" in quiet.stdout


def test_replaying_many_deliveries_reports_as_it_queues(server_factory: Any) -> None:
    server = server_factory({"TUSPORTAL_EVENTS_WORKER_THREADS": "0"})
    url = server.database_url
    hook = httpx.post(
        server.base + "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    )
    assert hook.status_code == 201, hook.text
    webhook_id = hook.json()["id"]
    many = 2500
    sql(
        url,
        "WITH e AS (INSERT INTO events (id, type, subject, data, dispatched_at)"
        "  SELECT gen_random_uuid(), 'tusportal.upload.created', 'x', '{}'::jsonb, now()"
        "  FROM generate_series(1, %s) RETURNING id)"
        " INSERT INTO webhook_deliveries (event_id, subscription_id, state, attempts, finished_at)"
        " SELECT id, %s, 'dead', 3, now() FROM e",
        (many, webhook_id),
    )
    queued_before = sql(url, "SELECT count(*) FROM tusportal_queue.queue")[0][0]

    run = tusportal(url, server.data_dir, "webhook", "replay", "--webhook", webhook_id)
    assert len(json.loads(run.stdout)["replayed"]) == many  # stdout stays one JSON document
    assert progress_lines(run) == [
        "migrations: none pending",
        f"replay: {many} delivery(ies) reopened",
        f"replay: 1000 of {many} queued",
        f"replay: 2000 of {many} queued",
        f"replay: {many} of {many} queued",
        f"replay: done, {many} delivery(ies) queued",
    ], run.stderr
    assert sql(url, "SELECT count(*) FROM tusportal_queue.queue")[0][0] - queued_before == many
    assert sql(url, "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")[0][0] == many

    sql(url, "UPDATE webhook_deliveries SET state = 'dead'")
    quiet = tusportal(url, server.data_dir, "webhook", "replay", "--webhook", webhook_id, "--quiet")
    assert progress_lines(quiet) == [] and len(json.loads(quiet.stdout)["replayed"]) == many
