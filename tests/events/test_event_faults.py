"""Faults that must lose no event. Each test counts events at a local receiver: every event of the
uploads arrives, and a duplicate is only ever the same event again (same webhook-id, same body).

- the receiver is down for a while, then back;
- a worker is killed (SIGKILL) in the middle of a delivery;
- the server is killed between the commit of an upload and the dispatch of its events;
- the broker (Redis, RabbitMQ) restarts.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from events_support import (
    FAST,
    PrivateRedis,
    Receiver,
    assert_no_loss_no_foreign_duplicates,
    feed_ids,
    rabbitmqctl,
    subscribe,
    upload,
    wait_until,
)

pytestmark = pytest.mark.slow

NO_WORKER = {"TUSPORTAL_EVENTS_WORKER_THREADS": "0"}


def queue_env(broker: str, url: str) -> dict[str, str]:
    return {
        "TUSPORTAL_EVENTS_BROKER": broker,
        "TUSPORTAL_EVENTS_BROKER_URL": url,
        "TUSPORTAL_EVENTS_QUEUE": f"tusportal-test-{time.monotonic_ns()}",
    }


def test_receiver_down_then_back_gets_every_event(server_factory: Any, receiver: Receiver) -> None:
    server = server_factory(dict(FAST))
    hook = subscribe(server, receiver)
    receiver.stop()
    for i in range(10):
        upload(server, f"file {i}".encode())
    time.sleep(3)  # several failed attempts each
    assert receiver.events() == []
    receiver.start()
    expected = set(feed_ids(server))
    assert len(expected) == 20
    got = receiver.wait_for(20, timeout=60)
    assert_no_loss_no_foreign_duplicates(got, expected)
    deliveries = httpx.get(f"{server.base}/api/webhooks/{hook['id']}/deliveries", timeout=10).json()
    assert all(d["state"] == "delivered" for d in deliveries["deliveries"])
    assert max(d["attempts"] for d in deliveries["deliveries"]) > 1


def test_worker_killed_mid_delivery_redelivers(
    server_factory: Any, worker_factory: Any, receiver: Receiver
) -> None:
    server = server_factory({**FAST, **NO_WORKER})
    worker = worker_factory(server)
    subscribe(server, receiver, ["tusportal.file.uploaded"])
    receiver.stall = 20.0  # the receiver takes the request and never answers it
    arrived_before = receiver.arrivals
    upload(server, b"slow")
    wait_until(lambda: receiver.arrivals > arrived_before, 30, "the delivery to start")
    worker.kill()  # mid-delivery: no answer recorded, no acknowledgement
    receiver.stall = 0.0
    worker_factory(server)
    expected = set(feed_ids(server, type="tusportal.file.uploaded"))
    got = receiver.wait_for(1, timeout=60)
    assert_no_loss_no_foreign_duplicates(got, expected)


def test_server_killed_between_commit_and_dispatch(
    server_factory: Any, worker_factory: Any, receiver: Receiver
) -> None:
    """PostgreSQL broker: the upload, its events and their dispatch message commit together; the
    server dies before anyone dispatches them. A worker started afterwards delivers them."""
    server = server_factory({**FAST, **NO_WORKER})
    subscribe(server, receiver)
    for i in range(5):
        upload(server, f"crash {i}".encode())
    expected = set(feed_ids(server))
    server.kill()
    worker_factory(server)
    got = receiver.wait_for(len(expected), timeout=60)
    assert_no_loss_no_foreign_duplicates(got, expected)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_server_killed_before_handing_events_to_the_broker(
    server_factory: Any, worker_factory: Any, receiver: Receiver, broker: str, request: pytest.FixtureRequest
) -> None:
    """RabbitMQ/Redis: messages are sent after commit. The server cannot reach the broker (so the
    relay never hands the events over) and is then killed; the sweeper sends them later."""
    url = request.getfixturevalue(f"{broker}_url")
    env = queue_env(broker, url)
    dead_url = "redis://127.0.0.1:9/0" if broker == "redis" else "amqp://guest:guest@127.0.0.1:9/%2F"
    server = server_factory({**FAST, **NO_WORKER, **env, "TUSPORTAL_EVENTS_BROKER_URL": dead_url})
    subscribe(server, receiver)
    for i in range(5):
        upload(server, f"unsent {i}".encode())
    expected = set(feed_ids(server))
    server.kill()
    worker_factory(server, env)
    got = receiver.wait_for(len(expected), timeout=60)
    assert_no_loss_no_foreign_duplicates(got, expected)


def test_redis_restart_loses_nothing(
    server_factory: Any, worker_factory: Any, receiver: Receiver, private_redis: PrivateRedis
) -> None:
    """Redis here keeps nothing on disk: a restart drops every queued and delayed message."""
    env = queue_env("redis", private_redis.url)
    server = server_factory({**FAST, **NO_WORKER, **env})
    worker_factory(server, env)
    subscribe(server, receiver)
    upload(server, b"before")
    receiver.wait_for(2)
    receiver.stop()  # deliveries now wait in Redis as delayed retries
    for i in range(3):
        upload(server, f"during {i}".encode())
    time.sleep(1.5)
    private_redis.stop()
    upload(server, b"while redis is down")
    private_redis.start()
    receiver.start()
    upload(server, b"after")
    expected = set(feed_ids(server))
    assert len(expected) == 12
    got = receiver.wait_for(len(expected), timeout=90)
    assert_no_loss_no_foreign_duplicates(got, expected)


def test_rabbitmq_restart_loses_nothing(
    server_factory: Any, worker_factory: Any, receiver: Receiver, rabbitmq_url: str
) -> None:
    env = queue_env("rabbitmq", rabbitmq_url)
    server = server_factory({**FAST, **NO_WORKER, **env})
    worker_factory(server, env)
    subscribe(server, receiver)
    upload(server, b"before")
    receiver.wait_for(2)
    receiver.stop()
    for i in range(3):
        upload(server, f"during {i}".encode())
    time.sleep(1.5)
    rabbitmqctl("stop_app")
    try:
        upload(server, b"while rabbitmq is down")
    finally:
        rabbitmqctl("start_app")
    receiver.start()
    upload(server, b"after")
    expected = set(feed_ids(server))
    assert len(expected) == 12
    got = receiver.wait_for(len(expected), timeout=120)
    assert_no_loss_no_foreign_duplicates(got, expected)
