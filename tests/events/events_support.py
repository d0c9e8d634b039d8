"""Helpers for the events tests: a webhook receiver on 127.0.0.1, the real brokers (started when
the machine has none running), and `tusportal worker` processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tusportal.events.webhooks import verify

ROOT = Path(__file__).resolve().parents[2]
ServerProcess = Any  # tests/conftest.py's ServerProcess: base, url, env, data_dir, database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TUS = {"Tus-Resumable": "1.0.0"}
CI = os.environ.get("CI") == "true"

# fast retries, sweeps and timeouts, so that fault tests finish in seconds
FAST = {
    "TUSPORTAL_WEBHOOK_RETRY_MIN_SECONDS": "0.2",
    "TUSPORTAL_WEBHOOK_RETRY_MAX_SECONDS": "1",
    "TUSPORTAL_WEBHOOK_TIMEOUT_SECONDS": "3",
    "TUSPORTAL_EVENTS_SWEEP_INTERVAL_SECONDS": "0.5",
    "TUSPORTAL_EVENTS_SWEEP_GRACE_SECONDS": "2",
}


# --- the receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    raw: bytes


@dataclass
class Receiver:
    """A webhook endpoint that records every request. `status` decides the answer; `stall` makes it
    hang that long and then drop the request unrecorded (a receiver that never finished);
    `stop()`/`start()` take it off the network and back on the same port."""

    port: int = field(default_factory=free_port)
    status: int = 204
    stall: float = 0.0
    received: list[Received] = field(default_factory=list)
    arrivals: int = 0  # requests that reached the handler, answered or not
    secret: str | None = None
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.arrivals += 1
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.status
                if receiver.stall:
                    time.sleep(receiver.stall)
                    self.close_connection = True
                    return
                if 200 <= status < 300:
                    if receiver.secret is not None:
                        verify(receiver.secret, headers, raw)
                    with receiver._lock:
                        receiver.received.append(
                            Received(
                                headers.get("webhook-id", ""), json.loads(raw), headers, time.time(), raw
                            )
                        )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def ids(self) -> set[str]:
        return {r.webhook_id for r in self.events()}

    def wait_for(self, count: int, timeout: float = 30.0, *, distinct: bool = True) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = len(self.ids()) if distinct else len(self.events())
            if got >= count:
                return self.events()
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.ids())} distinct of {count} expected in {timeout} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


def assert_no_loss_no_foreign_duplicates(received: list[Received], expected_ids: set[str]) -> None:
    """Every expected event arrived; a duplicate is only ever the same event (same webhook-id,
    same body)."""
    by_id: dict[str, bytes] = {}
    for r in received:
        assert r.webhook_id == r.body["id"], "webhook-id must be the CloudEvents id"
        if r.webhook_id in by_id:
            assert by_id[r.webhook_id] == r.raw, "a redelivery must carry the same event"
        by_id[r.webhook_id] = r.raw
    missing = expected_ids - set(by_id)
    assert not missing, f"{len(missing)} event(s) never delivered"


# --- talking to a server ---------------------------------------------------------------------


def subscribe(
    server: ServerProcess, receiver: Receiver, event_types: list[str] | None = None
) -> dict[str, Any]:
    r = httpx.post(
        server.base + "/api/webhooks",
        json={"url": receiver.url, "event_types": event_types or ["*"]},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    receiver.secret = doc["secret"]
    return doc


def upload(server: ServerProcess, data: bytes = b"hello", **headers: str) -> str:
    r = httpx.post(
        server.url,
        content=data,
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Content-Type": "application/offset+octet-stream",
            **headers,
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.headers["location"].rstrip("/").rsplit("/", 1)[1]


def feed_ids(server: ServerProcess, **params: str) -> list[str]:
    r = httpx.get(server.base + "/api/events", params={"after": "0", "limit": "1000", **params}, timeout=70)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["events"]]


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- worker processes -------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """`tusportal worker` against a server's database."""

    server: ServerProcess
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "TUSPORTAL_DATABASE_URL": self.server.database_url,
            "TUSPORTAL_LOG_FORMAT": "json",
            **self.server.env,
            **self.env,
        }
        self.log_path = self.server.data_dir / f"worker-{time.monotonic_ns()}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tusportal.cli", "worker", "--data-dir", str(self.server.data_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        wait_until(
            lambda: "events_worker_started" in self.logs() or self.proc.poll() is not None, 60, "worker"
        )
        if self.proc.poll() is not None:
            raise RuntimeError("worker exited early:\n" + self.logs()[-3000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


@pytest.fixture
def worker_factory() -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(server: ServerProcess, env: dict[str, str] | None = None) -> WorkerProcess:
        w = WorkerProcess(server, dict(env or {}))
        w.start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


# --- brokers ----------------------------------------------------------------------------------


def reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(port):
            return True
        time.sleep(0.2)
    return False


def _unavailable(what: str) -> None:
    if CI:
        pytest.fail(f"{what} is not available and could not be started (CI must run it)")
    pytest.skip(f"{what} is not available here")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis on 6379, started the way the machine starts it when it is down."""
    if not reachable(6379):
        exe = shutil.which("redis-server")
        if exe:
            Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
            Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [exe, "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
                 "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
                check=False, timeout=30,
            )  # fmt: skip
        if not _wait_port(6379, 20):
            _unavailable("Redis")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The machine's RabbitMQ on 5672 (guest/guest), started when it is down."""
    if not reachable(5672):
        exe = shutil.which("rabbitmq-server")
        if exe:
            subprocess.run([exe, "-detached"], check=False, timeout=60)
        if not _wait_port(5672, 90):
            _unavailable("RabbitMQ")
    return "amqp://guest:guest@127.0.0.1:5672/%2F"


@dataclass
class PrivateRedis:
    """A Redis of our own on a free port, for tests that restart the broker."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tusportal-redis-")))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            _unavailable("redis-server")
        assert exe is not None
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not _wait_port(self.port, 20):
            raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    r = PrivateRedis()
    r.start()
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


def rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        _unavailable("rabbitmqctl")
    assert exe is not None
    subprocess.run([exe, *args], check=True, timeout=120, capture_output=True)
