"""The one-command start: `tusportal serve` with no configuration runs on an embedded PostgreSQL
in the data dir, and other commands join that same server while it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TUSPORTAL_")}


def _postgres_for(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir / "pg") in cmd:
            found.append(proc)
    return found


def test_serve_on_embedded_postgres_and_join_from_other_commands(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    server = subprocess.Popen(
        [sys.executable, "-m", "tusportal.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            assert server.poll() is None, "server exited"
            time.sleep(0.2)
        r = httpx.post(
            f"http://127.0.0.1:{port}/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5"}
        )
        assert r.status_code == 201
        assert (data_dir / "pg" / "PG_VERSION").exists()
        for args in (["migrate"], ["cleanup", "--dry-run"]):
            out = subprocess.run(
                [sys.executable, "-m", "tusportal.cli", *args, "--data-dir", str(data_dir)],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
        assert (
            "schema at version"
            in subprocess.run(
                [sys.executable, "-m", "tusportal.cli", "migrate", "--data-dir", str(data_dir)],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )
        # the server is still serving on the shared database after the other commands left
        assert httpx.head(r.headers["location"], headers={"Tus-Resumable": "1.0.0"}).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    # the last process using the embedded server stopped it
    deadline = time.monotonic() + 15
    while _postgres_for(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _postgres_for(data_dir)
