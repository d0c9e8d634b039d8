"""The listing queries behind the UI on a real PostgreSQL: file filters, the sort whitelist,
pagination, owner restriction; the event monitor's filters and owner restriction."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tusportal.events.management import InvalidEventsRequest
from tusportal.events.monitor import EventMonitor
from tusportal.service.files import FileCatalog, FileQuery, InvalidListing
from tusportal.state import outbox
from tusportal.state.batches import BatchRepository
from tusportal.state.db import Database
from tusportal.state.event_monitor import EventMonitorRepository
from tusportal.state.files import FileFilter, FileRepository, like_pattern
from tusportal.state.outbox import NewEvent
from tusportal.state.uploads import UploadRepository


@pytest.fixture
async def db(postgres: Any) -> AsyncIterator[Database]:
    database = await postgres.migrated()
    outbox.use_publisher(None)
    yield database
    await database.close()


async def add_upload(
    db: Database,
    name: str | None,
    *,
    owner: str | None = None,
    batch: str | None = None,
    length: int = 10,
    offset: int = 0,
    finished: bool = False,
    concat_kind: str | None = None,
) -> str:
    upload_id = secrets.token_urlsafe(9)
    await UploadRepository(db, lease_seconds=5).insert(
        upload_id=upload_id,
        storage_key=upload_id,
        offset=length if finished else offset,
        length=length,
        metadata_raw=None,
        metadata={"filename": name} if name is not None else {},
        expires_in=3600,
        finished=finished,
        owner_id=owner,
        batch_id=batch,
        concat_kind=concat_kind,
    )
    return upload_id


async def test_file_filters_sort_pages_and_owner(db: Database) -> None:
    batches = BatchRepository(db)
    await batches.create("b_one", name="one", expected_files=None, metadata={}, owner_id="alice")
    a1 = await add_upload(db, "Report-2024.pdf", owner="alice", batch="b_one", length=300, finished=True)
    a2 = await add_upload(db, "notes.txt", owner="alice", length=20, offset=5)
    a3 = await add_upload(db, "100%_done.txt", owner="alice", length=7, finished=True)
    b1 = await add_upload(db, "report-bob.pdf", owner="bob", length=50, finished=True)
    nameless = await add_upload(db, None, owner="bob", length=1)
    await add_upload(db, "part.bin", owner="alice", concat_kind="partial")  # a part, not a file
    gone = await add_upload(db, "deleted.txt", owner="alice")
    await db.execute("UPDATE uploads SET state = 'terminated' WHERE id = %s", (gone,))
    catalog = FileCatalog(FileRepository(db))

    async def ids(**kw: Any) -> list[str]:
        return [f.id for f in (await catalog.search(FileQuery(**kw))).files]

    # every owner by default; partial uploads and deleted files stay out
    assert set(await ids()) == {a1, a2, a3, b1, nameless}
    assert set(await ids(state="all")) == {a1, a2, a3, b1, nameless, gone}
    assert await ids(state="terminated") == [gone]
    assert set(await ids(state="finished")) == {a1, a3, b1}
    # owner restriction
    assert set(await ids(owner_id="alice")) == {a1, a2, a3}
    assert set(await ids(owner_id="bob")) == {b1, nameless}
    assert await ids(owner_id="nobody") == []
    # name search: case-insensitive substring, LIKE wildcards taken literally
    assert set(await ids(name="REPORT")) == {a1, b1}
    assert await ids(name="report", owner_id="alice") == [a1]
    assert await ids(name="%_") == [a3]
    assert await ids(name="_") == [a3]
    assert await ids(name="0%") == [a3]
    assert await ids(name="r%t") == []
    # batch filter
    assert await ids(batch_id="b_one") == [a1]
    assert await ids(batch_id="b_other") == []
    # sorts (nulls last either way)
    assert (await ids(sort="size"))[:2] == [a1, b1]
    by_size = [f.length for f in (await catalog.search(FileQuery(sort="size", descending=False))).files]
    assert by_size == sorted(by_size)
    by_size_desc = [f.length for f in (await catalog.search(FileQuery(sort="size"))).files]
    assert by_size_desc == sorted(by_size_desc, reverse=True)
    names = [f.filename for f in (await catalog.search(FileQuery(sort="name", descending=False))).files]
    assert names == ["100%_done.txt", "notes.txt", "Report-2024.pdf", "report-bob.pdf", None]
    created = await ids(sort="created", descending=False)
    assert created == [a1, a2, a3, b1, nameless]
    assert await ids(sort="created") == list(reversed(created))

    # pagination: pages cover the list once, in order, with the total
    seen: list[str] = []
    for page in (1, 2, 3):
        result = await catalog.search(FileQuery(sort="created", descending=False, page=page, per_page=2))
        assert result.total == 5 and result.pages == 3
        seen += [f.id for f in result.files]
    assert seen == created
    beyond = await catalog.search(FileQuery(page=99, per_page=2))
    assert beyond.files == [] and beyond.total == 5


async def test_bad_listing_parameters_are_refused(db: Database) -> None:
    catalog = FileCatalog(FileRepository(db))
    for bad in (
        FileQuery(sort="id; DROP TABLE uploads"),
        FileQuery(sort="owner_id"),
        FileQuery(state="finishd"),
        FileQuery(page=0),
        FileQuery(per_page=0),
        FileQuery(per_page=201),
        FileQuery(name="x" * 201),
    ):
        with pytest.raises(InvalidListing):
            await catalog.search(bad)
    # the repository itself only knows the whitelisted sort keys
    with pytest.raises(KeyError):
        await FileRepository(db).page(FileFilter(), sort="u.id", limit=1, offset=0)
    assert await db.fetchone("SELECT count(*) FROM uploads") is not None


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("a%b_c\\d") == "%a\\%b\\_c\\\\d%"


async def test_totals_by_state(db: Database) -> None:
    await add_upload(db, "a", owner="alice", length=100, finished=True)
    await add_upload(db, "b", owner="alice", length=50, offset=20)
    await add_upload(db, "c", owner="bob", length=7, finished=True)
    await add_upload(db, "p", owner="alice", length=999, finished=True, concat_kind="partial")
    catalog = FileCatalog(FileRepository(db))
    assert await catalog.totals_by_state(None) == {"finished": (2, 107, 107), "active": (1, 20, 50)}
    assert await catalog.totals_by_state("alice") == {"finished": (1, 100, 100), "active": (1, 20, 50)}


async def add_event(db: Database, event_type: str, owner: str | None, subject: str) -> str:
    event = NewEvent(type=event_type, subject=subject, data={}, upload_id=subject, owner_id=owner)
    async with db.transaction() as conn:
        await outbox.add_events(conn, [event])
    return event.id


async def add_delivery(db: Database, event_id: str, subscription: str, state: str) -> int:
    row = await db.fetchone(
        "INSERT INTO webhook_deliveries (event_id, subscription_id, state, attempts, failures)"
        " VALUES (%s, %s, %s, 1, %s) RETURNING id",
        (event_id, subscription, state, 0 if state == "delivered" else 1),
    )
    assert row is not None
    await db.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status, outcome)"
        " VALUES (%s, 1, now(), 3.5, %s, %s)",
        (row[0], 200 if state == "delivered" else 500, "delivered" if state == "delivered" else "dead"),
    )
    return int(row[0])


async def test_event_monitor_filters_owners_and_failing_webhooks(db: Database) -> None:
    for sub, owner in (("wh_alice", "alice"), ("wh_bob", "bob")):
        await db.execute(
            "INSERT INTO webhook_subscriptions (id, url, event_types, secret, owner_id)"
            " VALUES (%s, %s, ARRAY['*'], 'whsec_x', %s)",
            (sub, f"http://127.0.0.1:9/{sub}", owner),
        )
    e1 = await add_event(db, "tusportal.file.uploaded", "alice", "u1")
    e2 = await add_event(db, "tusportal.upload.created", "alice", "u2")
    e3 = await add_event(db, "tusportal.file.uploaded", "bob", "u3")
    d1 = await add_delivery(db, e1, "wh_alice", "dead")
    await add_delivery(db, e1, "wh_bob", "delivered")  # an admin-like fan-out to bob's webhook
    await add_delivery(db, e3, "wh_bob", "delivered")
    monitor = EventMonitor(EventMonitorRepository(db))

    everything = await monitor.page(owner_id=None)
    assert [m.event.id for m in everything.events] == [e3, e2, e1]  # newest first
    assert everything.total == 3
    alice = await monitor.page(owner_id="alice")
    assert [m.event.id for m in alice.events] == [e2, e1]
    # alice sees only the delivery to her own webhook, with its attempts
    (first,) = [m for m in alice.events if m.event.id == e1]
    assert [d.delivery.id for d in first.deliveries] == [d1]
    assert [a.outcome for a in first.deliveries[0].attempts] == ["dead"]
    uploaded = await monitor.page(owner_id=None, event_type="tusportal.file.uploaded")
    assert [m.event.id for m in uploaded.events] == [e3, e1]
    dead = await monitor.page(owner_id=None, delivery_state="dead")
    assert [m.event.id for m in dead.events] == [e1]
    assert (await monitor.page(owner_id="bob", delivery_state="dead")).events == []
    paged = await monitor.page(owner_id=None, page=2, per_page=2)
    assert [m.event.id for m in paged.events] == [e1] and paged.pages == 2

    for bad in ({"event_type": "tusportal.nope"}, {"delivery_state": "lost"}, {"page": 0}):
        with pytest.raises(InvalidEventsRequest):
            await monitor.page(owner_id=None, **bad)

    failing = await monitor.failing_webhooks(None)
    assert [(f.id, f.dead, f.retrying, f.last_status) for f in failing] == [("wh_alice", 1, 0, None)]
    assert await monitor.failing_webhooks("bob") == []
    backlog = await monitor.backlog(None)
    assert backlog.undispatched_events == 3 and backlog.pending_deliveries == 0
    assert (await monitor.backlog("bob")).undispatched_events == 1
