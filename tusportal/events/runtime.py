"""The events machinery of one process: broker, publisher, and (optionally) worker threads.

`tusportal serve` publishes events and, by default, runs worker threads too (`events_worker_threads`)
so that the one-command start delivers webhooks; `tusportal worker` only runs workers. The worker
threads are Dramatiq's; their event loop (the AsyncIO middleware's thread) runs the Dispatcher, and
the sweeper runs on that loop while the worker is up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from tusportal.events.broker import BrokerConfig, EventBroker
from tusportal.events.dispatch import DeliveryPolicy, Dispatcher
from tusportal.events.interest import Interest, InterestedPublisher
from tusportal.events.relay import Relay
from tusportal.settings import Settings
from tusportal.state import outbox
from tusportal.state.db import Database
from tusportal.state.events import EventRepository
from tusportal.state.webhooks import WebhookRepository

log = structlog.get_logger(__name__)


class _WorkerLifecycle(Middleware):
    """Starts the sweeper when the worker has booted; closes the dispatcher before the loop stops
    (our after-shutdown hook runs before the AsyncIO middleware's, which stops the loop)."""

    def __init__(self, runtime: EventRuntime):
        self.runtime = runtime
        self._sweeper: concurrent.futures.Future[None] | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        assert thread is not None
        dispatcher = self.runtime.dispatcher
        self._sweeper = asyncio.run_coroutine_threadsafe(dispatcher.sweep_forever(), thread.loop)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(self.runtime.dispatcher.close())


def broker_config(settings: Settings, database_url: str, worker_threads: int = 0) -> BrokerConfig:
    kind = settings.events_broker
    return BrokerConfig(
        # two consumers hold two connections each; every worker thread may be acknowledging
        pool_size=4 + max(worker_threads, 2),
        kind=kind,
        url=database_url if kind == "postgres" else (settings.events_broker_url or ""),
        retry_min_seconds=settings.webhook_retry_min_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        delivery_timeout_seconds=settings.webhook_timeout_seconds,
        queue=settings.events_queue,
    )


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        timeout_seconds=settings.webhook_timeout_seconds,
        retry_window_seconds=settings.webhook_retry_window_seconds,
        retry_min_seconds=settings.webhook_retry_min_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        sweep_interval_seconds=settings.events_sweep_interval_seconds,
        sweep_grace_seconds=settings.events_sweep_grace_seconds,
        source=events_source(settings),
    )


def events_source(settings: Settings) -> str:
    """The CloudEvents `source` of every event: the configured one, or the public base URL."""
    if settings.events_source:
        return settings.events_source
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + "/"
    return "/tusportal"


class EventRuntime:
    """`worker_threads`: how many threads `start_worker` will run (sizes the connection pools)."""

    def __init__(self, settings: Settings, database_url: str, *, worker_threads: int = 0):
        self.settings = settings
        self.broker = EventBroker(
            broker_config(settings, database_url, worker_threads),
            dispatcher=lambda: self.dispatcher,
            middleware=[_WorkerLifecycle(self)],
        )
        self.dispatcher = Dispatcher(
            database_url=database_url,
            broker=self.broker,
            policy=delivery_policy(settings),
            pool_size=max(worker_threads, 2),
        )
        self.relay: Relay | None = None
        self.interest: Interest | None = None
        self.publisher: InterestedPublisher | None = None
        self.worker: dramatiq.Worker | None = None

    # --- publishing (the server side) -------------------------------------------------------

    def start_publishing(self, db: Database) -> None:
        """Make `add_events` hand events that some subscription wants to this broker (through the
        relay when not transactional)."""
        self.interest = Interest(WebhookRepository(db).subscribed_types)
        self.interest.start()
        inner: outbox.Publisher = self.broker
        if not self.broker.transactional:
            self.relay = Relay(EventRepository(db), self.broker)
            self.relay.start()
            inner = self.relay
        self.publisher = InterestedPublisher(inner, self.interest)
        outbox.use_publisher(self.publisher)

    async def subscriptions_changed(self) -> None:
        if self.interest is not None:
            await self.interest.refresh()

    async def stop_publishing(self) -> None:
        if self.publisher is not None and outbox.current_publisher() is self.publisher:
            outbox.use_publisher(None)
        self.publisher = None
        if self.interest is not None:
            await self.interest.stop()
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None

    # --- working ----------------------------------------------------------------------------

    def start_worker(self, threads: int) -> None:
        """Blocking (a second or so): boots Dramatiq worker threads in this process."""
        # Dramatiq's Redis consumer polls, sleeping up to the worker timeout when idle: keep it short
        timeout = 100 if self.broker.kind == "redis" else 1000
        worker = dramatiq.Worker(self.broker.dramatiq, worker_threads=threads, worker_timeout=timeout)
        worker.start()
        self.worker = worker
        log.info("events_worker_started", broker=self.broker.kind, threads=threads)

    def stop_worker(self, timeout: float = 10.0) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
            self.worker = None
            log.info("events_worker_stopped")

    def close(self) -> None:
        self.broker.close()


def run_worker(settings: Settings, database_url: str, threads: int, processes: int = 1) -> None:
    """`tusportal worker`: Dramatiq worker threads until SIGTERM or SIGINT, then a graceful stop.
    With several processes, this one supervises them (a child that dies is started again)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if processes > 1:
        _supervise(database_url, threads, processes, stop)
        return
    runtime = EventRuntime(settings, database_url, worker_threads=threads)
    try:
        runtime.start_worker(threads)
        stop.wait()
        runtime.stop_worker(timeout=settings.webhook_timeout_seconds + 5)
    finally:
        runtime.close()


def _supervise(database_url: str, threads: int, processes: int, stop: threading.Event) -> None:
    argv = [sys.executable, "-m", "tusportal.cli", "worker", "--threads", str(threads), "--processes", "1"]
    env = {**os.environ, "TUSPORTAL_DATABASE_URL": database_url}
    children = [subprocess.Popen(argv, env=env) for _ in range(processes)]
    log.info("events_workers_supervising", processes=processes, threads=threads)
    while not stop.wait(1.0):
        for i, child in enumerate(children):
            if child.poll() is not None:
                log.warning("events_worker_exited", pid=child.pid, code=child.returncode)
                children[i] = subprocess.Popen(argv, env=env)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
