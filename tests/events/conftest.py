"""Fixtures for the events tests (defined in events_support.py, registered here)."""

from events_support import (  # noqa: F401 - pytest fixtures
    private_redis,
    rabbitmq_url,
    receiver,
    redis_url,
    worker_factory,
)
