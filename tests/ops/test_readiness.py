"""`/readyz` checks the database, the migrations, the storage and the configured broker, names the
part that fails, and answers a storm of probes from a cached check (one broker connection, not one
per probe). Real brokers: PostgreSQL (iddqueue), Redis and RabbitMQ."""

from __future__ import annotations

import concurrent.futures
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "events"))

from events_support import free_port  # noqa: E402
from events_support import private_redis as private_redis  # noqa: E402 - pytest fixture
from events_support import rabbitmq_url as rabbitmq_url  # noqa: E402 - pytest fixture
from events_support import redis_url as redis_url  # noqa: E402 - pytest fixture

pytestmark = pytest.mark.slow


def broker_env(broker: str, url: str | None = None) -> dict[str, str]:
    env = {"TUSPORTAL_EVENTS_BROKER": broker, "TUSPORTAL_EVENTS_WORKER_THREADS": "0"}
    if url is not None:
        env["TUSPORTAL_EVENTS_BROKER_URL"] = url
    return env


def readyz(server: Any) -> httpx.Response:
    return httpx.get(server.base + "/readyz", timeout=10)


def wait_for_status(server: Any, status: int, timeout: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = readyz(server)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@pytest.mark.parametrize("broker", ["postgres", "redis", "rabbitmq"])
def test_ready_with_each_broker(broker: str, server_factory: Any, request: pytest.FixtureRequest) -> None:
    url = None if broker == "postgres" else request.getfixturevalue(f"{broker}_url")
    server = server_factory(broker_env(broker, url))
    r = readyz(server)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "storage": "ok", "broker": "ok"},
    }
    server.stop()


def closed_port() -> int:
    port = free_port()
    with socket.socket() as s:  # nothing listens there: connecting is refused at once
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.mark.parametrize(
    ("broker", "url"),
    [("redis", "redis://127.0.0.1:{port}/0"), ("rabbitmq", "amqp://guest:secret-pw@127.0.0.1:{port}/%2F")],
)
def test_a_broker_that_cannot_be_reached_makes_readyz_fail_naming_it(
    broker: str, url: str, server_factory: Any
) -> None:
    server = server_factory(broker_env(broker, url.format(port=closed_port())))
    started = time.monotonic()
    r = readyz(server)
    assert time.monotonic() - started < 5, "the broker check has a short timeout"
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert {k: v for k, v in checks.items() if k != "broker"} == {
        "database": "ok",
        "migrations": "ok",
        "storage": "ok",
    }
    assert checks["broker"].startswith("error: "), checks
    assert "secret-pw" not in r.text  # the URL's password is not repeated
    assert httpx.get(server.base + "/healthz").status_code == 200  # alive, just not ready
    server.stop()


def test_postgres_broker_readiness_follows_its_queue_tables(server_factory: Any) -> None:
    server = server_factory(broker_env("postgres"))
    assert readyz(server).status_code == 200
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        conn.execute("ALTER SCHEMA tusportal_queue RENAME TO tusportal_queue_gone")
        try:
            r = wait_for_status(server, 503)  # after the cached answer has aged
            assert r.status_code == 503, r.text
            checks = r.json()["checks"]
            assert checks["database"] == "ok" and checks["storage"] == "ok"
            assert checks["broker"].startswith("error: ") and "tusportal_queue" in checks["broker"]
        finally:
            conn.execute("ALTER SCHEMA tusportal_queue_gone RENAME TO tusportal_queue")
    assert wait_for_status(server, 200).status_code == 200
    server.stop()


def redis_connections(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_connections_received"])  # type: ignore[index]
    finally:
        client.close()


def test_a_probe_storm_opens_one_broker_connection_not_one_per_probe(
    server_factory: Any, private_redis: Any
) -> None:
    server = server_factory(broker_env("redis", private_redis.url))
    assert readyz(server).status_code == 200
    time.sleep(1.2)  # the cached answer is stale: the storm below needs a fresh check
    before = redis_connections(private_redis.url)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: readyz(server), range(48)))
    elapsed = time.monotonic() - started
    assert all(a.status_code == 200 for a in answers)
    opened = redis_connections(private_redis.url) - before - 1  # minus our own INFO connection
    # one check per second of storm (the cache lives 1 s), plus one for a storm that straddles it
    assert 1 <= opened <= int(elapsed) + 2, (opened, elapsed)
    assert opened < 48 // 4
    server.stop()
