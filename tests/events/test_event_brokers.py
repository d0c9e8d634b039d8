"""Every broker, for real: `tusportal serve` publishes, a separate `tusportal worker` delivers.
PostgreSQL (iddqueue, the default), RabbitMQ and Redis; none loses or invents an event."""

from __future__ import annotations

import time
from typing import Any

import pytest
from events_support import (
    FAST,
    Receiver,
    assert_no_loss_no_foreign_duplicates,
    feed_ids,
    subscribe,
    upload,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("broker", ["postgres", "redis", "rabbitmq"])
def test_broker_delivers_every_event(
    broker: str, server_factory: Any, worker_factory: Any, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    env = {**FAST, "TUSPORTAL_EVENTS_BROKER": broker, "TUSPORTAL_EVENTS_WORKER_THREADS": "0"}
    if broker != "postgres":
        env["TUSPORTAL_EVENTS_BROKER_URL"] = request.getfixturevalue(f"{broker}_url")
        env["TUSPORTAL_EVENTS_QUEUE"] = f"tusportal-test-{time.monotonic_ns()}"
    server = server_factory(env)
    worker_factory(server)
    subscribe(server, receiver)
    for i in range(20):
        upload(server, f"{broker} {i}".encode())
    expected = set(feed_ids(server))
    assert len(expected) == 40
    got = receiver.wait_for(40, timeout=60)
    assert_no_loss_no_foreign_duplicates(got, expected)
