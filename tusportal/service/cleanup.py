"""The cleanup jobs: `tusportal cleanup` runs them once, `tusportal worker` every
`TUSPORTAL_CLEANUP_INTERVAL_SECONDS`.

One run, in order:

1. expire idle unfinished uploads and delete their bytes (`UploadService.expire_idle`);
2. delete the bytes of partial uploads whose finals are assembled (`remove_consumed`);
3. delete bytes that terminated or expired uploads left behind (a crash or storage outage between
   the state change and the delete), claimed in `state/retention.py`;
4. delete events older than `TUSPORTAL_EVENT_RETENTION_SECONDS` whose deliveries are all
   delivered or dead, with their deliveries and attempts;
5. delete expired browser sessions, API tokens that expired or were revoked, and login-throttle
   counters whose window is over.

Each step logs what it removed (`cleanup_uploads_expired`, `cleanup_partials_removed`,
`cleanup_leftovers_removed`, `cleanup_events_removed`, `cleanup_accounts_removed`), and the run ends
with `cleanup_finished`.
A dry run changes nothing and reports what a run would remove. Only one run happens at a time across
all processes; a run that finds another in progress is skipped (`cleanup_skipped`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import structlog

from tusportal.logging import upload_context
from tusportal.progress import Report, Tally, silent
from tusportal.service.core import UploadService
from tusportal.state import retention
from tusportal.state.accounts import AccountRepository
from tusportal.state.db import Database
from tusportal.state.login_failures import LoginFailureRepository
from tusportal.state.sessions import SessionRepository
from tusportal.storage.base import Terminator

log = structlog.get_logger(__name__)

# terminations and expirations delete their own bytes right away; only what stays longer is ours
LEFTOVER_GRACE_SECONDS = 60.0
BATCH = 500


@dataclass
class CleanupReport:
    dry_run: bool
    skipped: bool = False
    expired: list[str] = field(default_factory=list)
    partials: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    sessions: int = 0
    tokens: list[str] = field(default_factory=list)
    login_counters: int = 0

    def summary(self) -> str:
        if self.skipped:
            return "another cleanup is running; nothing done"
        would = "would remove" if self.dry_run else "removed"
        lines = [
            f"{'would expire' if self.dry_run else 'expired'} {len(self.expired)} upload(s) (idle too long)",
            *(f"  {i}" for i in self.expired),
            f"{would} {len(self.partials)} concatenated partial upload(s)",
            *(f"  {i}" for i in self.partials),
            f"{would} leftover bytes of {len(self.leftovers)} terminated or expired upload(s)",
            *(f"  {i}" for i in self.leftovers),
            f"{would} {self.events} event(s) past retention,"
            f" with {self.deliveries} delivery(ies) and {self.attempts} attempt(s)",
            f"{would} {self.sessions} expired session(s)",
            f"{would} {len(self.tokens)} expired or revoked API token(s)",
            *(f"  {i}" for i in self.tokens),
            f"{would} {self.login_counters} lapsed login-throttle counter(s)",
        ]
        return "\n".join(lines)


class Cleanup:
    def __init__(
        self,
        db: Database,
        service: UploadService,
        *,
        event_retention_seconds: float,
        leftover_grace_seconds: float = LEFTOVER_GRACE_SECONDS,
        login_window_seconds: float = 900.0,
    ):
        self.db = db
        self.service = service
        self.event_retention_seconds = event_retention_seconds
        self.leftover_grace_seconds = leftover_grace_seconds
        self.login_window_seconds = login_window_seconds

    async def run(self, *, dry_run: bool = False, progress: Report = silent) -> CleanupReport:
        """One run; `progress` hears each job's counts and bytes as it goes (`tusportal cleanup`)."""
        report = CleanupReport(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        started = time.monotonic()
        async with retention.exclusive_run(self.db) as mine:
            if not mine:
                report.skipped = True
                log.info("cleanup_skipped", reason="another cleanup is running")
                return report
            tally = Tally(progress, "expired uploads", "would expire" if dry_run else "expired")
            report.expired = await self.service.expire_idle(
                dry_run=dry_run, on_removed=lambda u: tally.add(1, u.offset)
            )
            tally.done()
            log.info("cleanup_uploads_expired", count=len(report.expired), dry_run=dry_run)
            tally = Tally(progress, "consumed partial uploads", verb)
            report.partials = await self.service.concat.remove_consumed(
                dry_run=dry_run, on_removed=lambda u: tally.add(1, u.offset)
            )
            tally.done()
            log.info("cleanup_partials_removed", count=len(report.partials), dry_run=dry_run)
            tally = Tally(progress, "leftover bytes", verb)
            report.leftovers = await self._leftovers(dry_run, tally)
            tally.done()
            log.info(
                "cleanup_leftovers_removed",
                count=len(report.leftovers),
                upload_ids=report.leftovers,
                dry_run=dry_run,
            )
            tally = Tally(progress, "old events", verb, with_bytes=False)
            await self._events(report, tally)
            tally.done()
            log.info(
                "cleanup_events_removed",
                events=report.events,
                deliveries=report.deliveries,
                attempts=report.attempts,
                retention_seconds=self.event_retention_seconds,
                dry_run=dry_run,
            )
            tally = Tally(progress, "dead sessions, tokens and login counters", verb, with_bytes=False)
            await self._accounts(report)
            tally.add(report.sessions + len(report.tokens) + report.login_counters)
            tally.done()
            log.info(
                "cleanup_accounts_removed",
                sessions=report.sessions,
                tokens=len(report.tokens),
                token_ids=report.tokens,
                login_counters=report.login_counters,
                dry_run=dry_run,
            )
        log.info(
            "cleanup_finished",
            dry_run=dry_run,
            expired=len(report.expired),
            partials=len(report.partials),
            leftovers=len(report.leftovers),
            events=report.events,
            seconds=round(time.monotonic() - started, 3),
        )
        return report

    async def _leftovers(self, dry_run: bool, tally: Tally) -> list[str]:
        grace = self.leftover_grace_seconds
        if dry_run:
            found = await retention.leftovers(self.db, grace_seconds=grace, limit=10 * BATCH)
            tally.add(len(found), sum(u.offset for u in found))
            return [u.id for u in found]
        store = self.service.store
        removed: list[str] = []
        while True:
            claimed = await retention.claim_leftovers(self.db, grace_seconds=grace, limit=BATCH)
            for upload in claimed:
                with upload_context(upload.id):
                    try:
                        if isinstance(store, Terminator):
                            await store.delete(upload.storage_key, upload.storage_state)
                        else:
                            await store.truncate(upload.storage_key, 0, upload.storage_state)
                    except Exception as exc:
                        await retention.release_claim(self.db, upload.id)
                        log.warning("cleanup_leftover_failed", upload_id=upload.id, error=str(exc))
                        continue
                removed.append(upload.id)
                tally.add(1, upload.offset)
            if len(claimed) < BATCH:
                return removed

    async def _accounts(self, report: CleanupReport) -> None:
        sessions, tokens = SessionRepository(self.db), AccountRepository(self.db)
        counters, window = LoginFailureRepository(self.db), self.login_window_seconds
        if report.dry_run:
            report.sessions = await sessions.expired_count()
            report.tokens = await tokens.dead_tokens()
            report.login_counters = await counters.lapsed_count(window_seconds=window)
            return
        report.sessions = await sessions.remove_expired()
        report.tokens = await tokens.remove_dead_tokens()
        report.login_counters = await counters.remove_lapsed(window_seconds=window)

    async def _events(self, report: CleanupReport, tally: Tally) -> None:
        retention_seconds = self.event_retention_seconds
        if report.dry_run:
            found = await retention.events_done_with(self.db, retention_seconds=retention_seconds)
            report.events, report.deliveries, report.attempts = found.events, found.deliveries, found.attempts
            tally.add(found.events)
            return
        while True:
            gone = await retention.remove_events(self.db, retention_seconds=retention_seconds)
            tally.add(gone.events)
            report.events += gone.events
            report.deliveries += gone.deliveries
            report.attempts += gone.attempts
            if gone.events == 0:
                return


async def run_periodically(cleanup: Cleanup, interval_seconds: float, stop: threading.Event) -> None:
    """Run the cleanup every `interval_seconds` until `stop` is set (the worker's scheduler). A
    failed run is logged and the next one happens on schedule."""
    while not stop.is_set():
        try:
            await cleanup.run()
        except Exception as exc:
            log.warning("cleanup_failed", error=str(exc), error_type=type(exc).__name__)
        await asyncio.to_thread(stop.wait, interval_seconds)
