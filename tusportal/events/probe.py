"""Is the configured broker reachable? For `/readyz`.

`broker_status` answers "ok" or "error: <why>" (never the broker URL, which may hold a password)
within about `seconds`, without blocking the event loop:

- rabbitmq: opens and closes one AMQP connection (pika, on a thread, with socket and handshake
  timeouts);
- redis: PING with the asyncio client;
- postgres: the broker lives in our database, so the caller checks its queue tables
  (`state.monitoring.queue_ready`) and this module is not asked.

It opens a connection of its own on every call: callers cache the answer (`web/readiness.py`).
"""

from __future__ import annotations

import asyncio

from tusportal.events.broker import BrokerConfig

DEFAULT_TIMEOUT_SECONDS = 2.0


def describe(exc: BaseException) -> str:
    """An exception as one short line, e.g. `ConnectionError: Error 111 connecting to ...`."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


async def broker_status(config: BrokerConfig, seconds: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    if config.kind == "postgres":
        raise ValueError("the postgres broker is checked through the database")
    try:
        if config.kind == "redis":
            await asyncio.wait_for(_ping_redis(config.url, seconds), seconds)
        else:
            await asyncio.wait_for(asyncio.to_thread(_connect_rabbitmq, config.url, seconds), seconds + 0.5)
    except TimeoutError:
        return f"error: no answer within {seconds:g} s"
    except Exception as exc:
        return f"error: {describe(exc)}"
    return "ok"


async def _ping_redis(url: str, seconds: float) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(
        url or "redis://localhost:6379/0",
        socket_connect_timeout=seconds,
        socket_timeout=seconds,
        retry_on_timeout=False,
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


def _connect_rabbitmq(url: str, timeout: float) -> None:
    import pika

    params = pika.URLParameters(url or "amqp://guest:guest@localhost:5672/%2F")
    params.connection_attempts = 1
    params.retry_delay = 0
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    connection = pika.BlockingConnection(params)
    connection.close()
