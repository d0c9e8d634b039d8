"""Numbered SQL migrations (migrations/NNNN_name.sql), applied in order, each once.

Concurrent starters are serialized by a transaction-level advisory lock, so two processes starting
at the same time apply each migration exactly once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

import psycopg
import structlog

from tusportal.progress import Report, silent

log = structlog.get_logger(__name__)

_ADVISORY_KEY = 0x7475_7370  # "tusp"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("tusportal.state").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def latest_version() -> int:
    migrations = available()
    return migrations[-1].version if migrations else 0


async def apply(conn: psycopg.AsyncConnection, progress: Report = silent) -> list[int]:
    """Apply pending migrations; returns the versions applied now. `progress` hears of each one
    (`tusportal migrate`); they commit together, at the end."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        for migration in available():
            if migration.version in done:
                continue
            started = time.monotonic()
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
            log.info("migration_applied", version=migration.version, name=migration.name)
            progress(
                f"migration {migration.version:04d}_{migration.name}: applied"
                f" in {time.monotonic() - started:.2f} s"
            )
    if not applied_now:
        progress("migrations: none pending")
    return applied_now


async def current_version(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    exists = await cur.fetchone()
    if not exists or not exists[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
