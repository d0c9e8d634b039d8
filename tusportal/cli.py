"""`tusportal serve | worker | migrate | cleanup | webhook | events | user | token`.

The one place everything is wired.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from tusportal import accounts_cli, auth, metrics, profiles, progress
from tusportal.errors import TusError
from tusportal.events import commands as event_commands
from tusportal.events import probe
from tusportal.events.broker import QUEUE_SCHEMA
from tusportal.events.hooks import PreCreateHook
from tusportal.events.management import EventManagement
from tusportal.events.monitor import EventMonitor
from tusportal.events.runtime import EventRuntime, events_source, run_worker
from tusportal.logging import configure_logging
from tusportal.service import BatchService, ServiceConfig, UploadService
from tusportal.service.accounts import AccountService
from tusportal.service.cleanup import Cleanup, CleanupReport, run_periodically
from tusportal.service.files import FileCatalog
from tusportal.service.sessions import SessionConfig, SessionService
from tusportal.settings import Settings
from tusportal.state import migrations, monitoring
from tusportal.state.accounts import AccountRepository
from tusportal.state.batches import BatchRepository
from tusportal.state.db import Database, EmbeddedPostgres
from tusportal.state.event_monitor import EventMonitorRepository
from tusportal.state.files import FileRepository
from tusportal.state.locks import LockManager
from tusportal.state.login_failures import LoginFailureRepository
from tusportal.state.pieces import PostgresPieceStore
from tusportal.state.sessions import SessionRepository
from tusportal.state.uploads import UploadRepository
from tusportal.storage.local import LocalStore

if TYPE_CHECKING:
    from tusportal.storage.s3 import S3Store

log = structlog.get_logger("tusportal")


def database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """TUSPORTAL_DATABASE_URL, or the embedded PostgreSQL in the data dir (started or joined)."""
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.url, embedded


@dataclass
class Components:
    settings: Settings
    db: Database
    uploads: UploadRepository
    locks: LockManager
    store: LocalStore | S3Store
    service: UploadService
    batches: BatchService
    events: EventRuntime
    event_management: EventManagement
    embedded: EmbeddedPostgres | None = None
    recovery: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.db.open()
        async with self.db.connection() as conn:
            await migrations.apply(conn)
        await self.locks.start()
        self.events.start_publishing(self.db)
        if self.settings.events_worker_threads:
            await asyncio.to_thread(self.events.start_worker, self.settings.events_worker_threads)
        self.recovery = asyncio.create_task(
            self.service.concat.recover_forever(max(self.settings.lock_lease_seconds, 2.0))
        )
        log.info(
            "server_ready",
            base_path=self.settings.normalized_base_path(),
            storage=self.settings.storage,
            files=str(self.store.directory) if isinstance(self.store, LocalStore) else None,
        )

    async def stop(self) -> None:
        if self.service.pre_create is not None:
            await self.service.pre_create.close()
        if self.recovery is not None:
            self.recovery.cancel()
        self.locks.interrupt_all()
        await self.locks.stop()
        await asyncio.to_thread(self.events.stop_worker)
        await self.events.stop_publishing()
        self.events.close()
        await self.db.close()
        self.store.close()
        if self.embedded is not None:
            self.embedded.release()

    async def refresh_metrics(self) -> None:
        try:
            backlog, oldest = await monitoring.outbox_backlog(self.db)
        except TusError:
            return
        metrics.OUTBOX_BACKLOG.set(backlog)
        metrics.OUTBOX_OLDEST_SECONDS.set(oldest)

    async def readiness(self) -> dict[str, Any]:
        """What `/readyz` reports (it caches the answer for a second): every value "ok", or why not."""
        checks: dict[str, Any] = {}
        checks["database"] = "ok" if await self.db.ping() else "unreachable"
        if checks["database"] == "ok":
            version = await monitoring.schema_version(self.db)
            latest = migrations.latest_version()
            checks["migrations"] = "ok" if version >= latest else f"at {version}, expected {latest}"
        checks["storage"] = await self._storage_status()
        broker = self.events.broker.config
        if broker.kind == "postgres":
            checks["broker"] = await monitoring.queue_ready(self.db, QUEUE_SCHEMA)
        else:
            checks["broker"] = await probe.broker_status(broker)
        return checks

    async def _storage_status(self) -> str:
        if not isinstance(self.store, LocalStore):
            try:
                return "ok" if await self.store.ready() else "bucket missing"
            except Exception as exc:
                return f"unreachable: {exc}"
        try:
            marker = self.store.directory / ".readyz"
            marker.write_bytes(b"ok")
            marker.unlink()
        except OSError as exc:
            return f"not writable: {exc.strerror}"
        return "ok"


def make_store(settings: Settings, db: Database | None = None) -> LocalStore | S3Store:
    """TUSPORTAL_STORAGE: `local` (a directory) or `s3` (a bucket, see docs/s3.md)."""
    if settings.storage != "s3":
        return LocalStore(settings.files_dir())
    from tusportal.storage.s3 import S3Config, S3Store

    if not settings.s3_endpoint or not settings.s3_bucket:
        raise SystemExit("TUSPORTAL_STORAGE=s3 needs TUSPORTAL_S3_ENDPOINT and TUSPORTAL_S3_BUCKET")
    endpoint, secure = settings.s3_endpoint, settings.s3_secure
    if "://" in endpoint:  # a URL decides the scheme
        scheme, _, endpoint = endpoint.partition("://")
        secure = scheme == "https"
    return S3Store(
        S3Config(
            endpoint=endpoint.rstrip("/"),
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
            secure=secure,
            prefix=settings.s3_prefix,
            part_size=settings.s3_part_size,
            parts_in_flight=settings.s3_parts_in_flight,
            payload_checksum=settings.s3_payload_checksum,
        ),
        pieces=PostgresPieceStore(db)
        if db is not None and settings.s3_pending_pieces == "database"
        else None,
    )


def build(settings: Settings) -> Components:
    url, embedded = database(settings)
    db = Database(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    uploads = UploadRepository(db, lease_seconds=settings.lock_lease_seconds)
    locks = LockManager(
        db,
        uploads,
        lease_seconds=settings.lock_lease_seconds,
        wait_seconds=settings.lock_wait_seconds,
    )
    store = make_store(settings, db)
    batches = BatchService(db, BatchRepository(db), file_url=settings.normalized_base_path())
    pre_create = (
        PreCreateHook(
            settings.pre_create_hook_url,
            timeout=settings.pre_create_hook_timeout_seconds,
            fail_open=settings.pre_create_hook_fail_open,
        )
        if settings.pre_create_hook_url
        else None
    )
    service = UploadService(
        pre_create=pre_create,
        batches=batches,
        uploads=uploads,
        locks=locks,
        store=store,
        config=ServiceConfig(
            max_size=settings.max_size,
            expiration_seconds=settings.expiration_seconds,
            fsync_every_patch=settings.fsync_every_patch,
            checkpoint_bytes=settings.checkpoint_bytes,
            concat_pause_seconds=settings.concat_pause_seconds,
            download_base=(settings.public_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
            + settings.normalized_base_path(),
        ),
    )
    events = EventRuntime(settings, url, worker_threads=settings.events_worker_threads)
    management = EventManagement(
        db, events.broker, source=events_source(settings), on_change=events.subscriptions_changed
    )
    return Components(settings, db, uploads, locks, store, service, batches, events, management, embedded)


def create_asgi_app(settings: Settings, components: Components) -> Any:
    from tusportal.web.app import create_app

    return create_app(
        settings,
        components.service,
        startup=components.start,
        shutdown=components.stop,
        readiness=components.readiness,
        metrics_refresh=components.refresh_metrics,
        batches=components.batches,
        events=components.event_management,
        **account_services(settings, components.db),
        files=FileCatalog(FileRepository(components.db)),
        event_monitor=EventMonitor(EventMonitorRepository(components.db)),
    )


def account_services(settings: Settings, db: Database) -> dict[str, Any]:
    """The account and session services for create_app (none in anonymous mode)."""
    if settings.auth != "required":
        return {}
    accounts = AccountService(AccountRepository(db))
    config = SessionConfig(
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_max_seconds,
        limits=auth.LoginLimits(
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window_seconds=settings.login_failure_window_seconds,
        ),
    )
    sessions = SessionService(accounts, SessionRepository(db), LoginFailureRepository(db), config)
    return {"accounts": accounts, "sessions": sessions}


# --- commands ---------------------------------------------------------------------------


def cmd_serve(settings: Settings) -> int:
    import uvicorn

    from tusportal.web.ui import assets

    assets.ensure_installed(settings.assets_dir, install=settings.assets_install)

    components = build(settings)
    app = create_asgi_app(settings, components)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # graceful shutdown: in-flight PATCHes save their progress and answer first
            loop = getattr(self, "_loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(components.locks.interrupt_all)
            super().handle_exit(sig, frame)

        async def serve(self, sockets: Any = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

    Server(uvicorn_config(app, settings)).run()
    return 0


def uvicorn_config(app: Any, settings: Settings) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="none",  # no websocket routes: "auto" would load the websockets package (about 2 MiB)
        lifespan="on",
        proxy_headers=False,  # our trust_proxy_headers setting decides, not uvicorn
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=30,
    )


async def _with_db(settings: Settings, work: Any, report: progress.Report = progress.silent) -> Any:
    components = build(settings)
    await components.db.open()
    try:
        async with components.db.connection() as conn:
            await migrations.apply(conn, report)
        components.events.start_publishing(components.db)
        return await work(components)
    finally:
        await components.events.stop_publishing()
        components.events.close()
        await components.db.close()
        components.store.close()
        if components.embedded is not None:
            components.embedded.release()


def cmd_migrate(settings: Settings, quiet: bool = False) -> int:
    async def work(components: Components) -> None:
        async with components.db.connection() as conn:
            version = await migrations.current_version(conn)
        print(f"schema at version {version}")

    asyncio.run(_with_db(settings, work, progress.to_stderr(quiet)))
    return 0


def cleanup_job(components: Components) -> Cleanup:
    return Cleanup(
        components.db,
        components.service,
        event_retention_seconds=components.settings.event_retention_seconds,
        login_window_seconds=components.settings.login_failure_window_seconds,
    )


def cmd_cleanup(settings: Settings, dry_run: bool, quiet: bool = False) -> int:
    say = progress.to_stderr(quiet)

    async def work(components: Components) -> CleanupReport:
        return await cleanup_job(components).run(dry_run=dry_run, progress=say)

    report = asyncio.run(_with_db(settings, work, say))
    print(report.summary())
    return 1 if report.skipped else 0


def _cleanup_thread(settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """The worker's scheduler: the cleanup jobs every TUSPORTAL_CLEANUP_INTERVAL_SECONDS, on a
    thread of their own (its own event loop, pool and store)."""
    if not settings.cleanup_interval_seconds:
        return None

    async def work(components: Components) -> None:
        await run_periodically(cleanup_job(components), settings.cleanup_interval_seconds, stop)

    thread = threading.Thread(
        target=asyncio.run, args=(_with_db(settings, work),), name="cleanup", daemon=True
    )
    thread.start()
    return thread


def cmd_worker(settings: Settings, threads: int | None, processes: int) -> int:
    async def migrate(url: str) -> None:
        db = Database(url, min_size=1, max_size=1)
        await db.open()
        try:
            async with db.connection() as conn:
                await migrations.apply(conn)
        finally:
            await db.close()

    url, embedded = database(settings)
    stop = threading.Event()
    cleanup = None
    try:
        asyncio.run(migrate(url))
        # every worker process schedules it; one run at a time happens (state/retention.py)
        cleanup = _cleanup_thread(settings.model_copy(update={"database_url": url, "db_pool_min": 1}), stop)
        run_worker(settings, url, threads or max(settings.events_worker_threads, 8), processes)
    finally:
        stop.set()
        if cleanup is not None:
            cleanup.join(30)
        if embedded is not None:
            embedded.release()
    return 0


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    if not event_commands.needs_database(args):
        return event_commands.write_event_schemas(args)

    # of these, only a replay can be long; the others stay as terse as before
    long = args.command == "webhook" and args.webhook_command == "replay"
    say = progress.to_stderr(args.quiet) if long else progress.silent

    async def work(components: Components) -> int:
        return await event_commands.run(args, components.event_management, say)

    return int(asyncio.run(_with_db(settings, work, say)))


def cmd_accounts(settings: Settings, args: argparse.Namespace) -> int:
    password = accounts_cli.read_password() if args.command == "user" else None

    async def work(components: Components) -> int:
        return await accounts_cli.run(args, AccountService(AccountRepository(components.db)), password)

    return int(asyncio.run(_with_db(settings, work)))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tusportal", description="tus 1.0.0 file ingest portal")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir", type=Path)
    for name, text in (
        ("migrate", "apply database migrations"),
        ("cleanup", "remove expired uploads, leftover bytes and old events"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--data-dir", type=Path)
        cmd.add_argument("-q", "--quiet", action="store_true", help=progress.QUIET_HELP)
        if name == "cleanup":
            cmd.add_argument("--dry-run", action="store_true", help="show, change nothing")
    worker = sub.add_parser("worker", help="deliver events: Dramatiq worker threads and the sweeper")
    worker.add_argument("--data-dir", type=Path)
    worker.add_argument("--threads", type=int, help="worker threads per process (default: 8)")
    worker.add_argument("--processes", type=int, default=1, help="worker processes (default: 1)")
    event_commands.add_parsers(sub)
    accounts_cli.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    settings = Settings(**overrides)
    configure_logging(profiles.log_format(settings), settings.log_level)
    if args.command == "serve":
        chosen = profiles.with_default_auth(settings)
        if chosen.auth != settings.auth:
            log.info("auth_required_by_default", host=settings.host, hint="set TUSPORTAL_AUTH explicitly")
        settings = chosen
    if args.command in ("serve", "worker"):
        refused = profiles.unsafe_setting(settings, args.command)
        if refused is not None:
            print(f"tusportal: {refused}", file=sys.stderr)
            return 2
    if args.command == "serve":
        return cmd_serve(settings)
    if args.command == "migrate":
        return cmd_migrate(settings, args.quiet)
    if args.command == "cleanup":
        return cmd_cleanup(settings, args.dry_run, args.quiet)
    if args.command == "worker":
        return cmd_worker(settings, args.threads, args.processes)
    if args.command in ("webhook", "events"):
        return cmd_events(settings, args)
    if args.command in accounts_cli.COMMANDS:
        return cmd_accounts(settings, args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
