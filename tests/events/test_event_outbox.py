"""The outbox on a real PostgreSQL: rows and the dispatch message commit (or roll back) with the
state change; the feed never skips an event that commits late; what add_events costs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tusportal.events.broker import QUEUE_SCHEMA, BrokerConfig, EventBroker
from tusportal.state import outbox
from tusportal.state.db import Database
from tusportal.state.events import EventRepository, format_cursor, parse_cursor
from tusportal.state.outbox import NewEvent


@pytest.fixture
async def db(postgres: Any) -> AsyncIterator[Database]:
    database = await postgres.migrated(max_size=6)
    yield database
    outbox.use_publisher(None)
    await database.close()


@pytest.fixture
def pg_broker(db: Database) -> Any:
    broker = EventBroker(BrokerConfig(kind="postgres", url=db.url))
    yield broker
    broker.close()


def event(n: int = 0) -> NewEvent:
    return NewEvent(type="tusportal.upload.created", subject=f"u{n}", data={"n": n}, upload_id=f"u{n}")


async def count(db: Database, sql: str) -> int:
    row = await db.fetchone(sql)
    assert row is not None
    return int(row[0])


async def messages(db: Database) -> int:
    return await count(db, f"SELECT count(*) FROM {QUEUE_SCHEMA}.queue")


async def test_events_commit_and_roll_back_with_the_state_change(
    db: Database, pg_broker: EventBroker
) -> None:
    outbox.use_publisher(pg_broker)
    async with db.transaction() as conn:
        await outbox.add_events(conn, [event(1), event(2)])
    assert await count(db, "SELECT count(*) FROM events") == 2
    assert await count(db, "SELECT count(*) FROM events WHERE published_at IS NOT NULL") == 2
    assert await messages(db) == 1  # one dispatch message for the transaction's events

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await outbox.add_events(conn, [event(3)])
            raise Boom()
    assert await count(db, "SELECT count(*) FROM events") == 2
    assert await messages(db) == 1  # the message rolled back with its rows


async def test_without_a_transactional_broker_rows_wait_unpublished(db: Database) -> None:
    heard: list[list[str]] = []

    class Recorder:
        transactional = False

        def wants(self, types: Any) -> bool:
            return True

        async def in_transaction(self, conn: Any, ids: list[str]) -> None:
            raise AssertionError("not transactional")

        def after_commit(self, ids: list[str]) -> None:
            heard.append(ids)

    outbox.use_publisher(Recorder())
    e = event(1)
    async with db.transaction() as conn:
        await outbox.add_events(conn, [e])
    assert heard == [[e.id]]
    assert await count(db, "SELECT count(*) FROM events WHERE published_at IS NULL") == 1
    assert await EventRepository(db).committed([e.id, "00000000-0000-7000-8000-000000000000"]) == [e.id]


async def test_feed_never_skips_an_event_that_commits_late(db: Database) -> None:
    """Transaction A writes first but commits last; B commits in between. A reader that follows its
    cursor sees A and B, whichever order they commit in."""
    repo = EventRepository(db)
    a, b = event(1), event(2)
    async with db.connection() as conn_a, db.connection() as conn_b:
        await conn_a.execute("BEGIN")
        await outbox.add_events(conn_a, [a])  # A takes its transaction id first
        await conn_b.execute("BEGIN")
        await outbox.add_events(conn_b, [b])
        await conn_b.execute("COMMIT")
        seen = await repo.feed("0")
        assert [e.id for e in seen] == []  # B is committed, but A (older) is still open
        await conn_a.execute("COMMIT")
    seen = await repo.feed("0")
    assert [e.id for e in seen] == [a.id, b.id]
    assert await repo.feed(seen[-1].cursor) == []
    assert [e.id for e in await repo.feed(seen[0].cursor)] == [b.id]
    assert seen[0].cursor < seen[1].cursor  # cursors also order as strings


async def test_feed_filters_and_cursor_format(db: Database) -> None:
    repo = EventRepository(db)
    batch_event = NewEvent(type="tusportal.batch.completed", subject="b1", data={}, batch_id="b1")
    async with db.transaction() as conn:
        await outbox.add_events(conn, [event(1), batch_event, event(2)])
    assert [e.id for e in await repo.feed("0", batch_id="b1")] == [batch_event.id]
    assert [e.type for e in await repo.feed("0", types=["tusportal.upload.created"])] == [
        "tusportal.upload.created",
        "tusportal.upload.created",
    ]
    assert len(await repo.feed("0", limit=2)) == 2
    assert parse_cursor(format_cursor(12345, 67)) == (12345, 67)
    with pytest.raises(ValueError, match="cursor"):
        parse_cursor("xyz")


async def test_add_events_costs_one_statement_and_one_enqueue(
    db: Database, pg_broker: EventBroker, tmp_path: Path
) -> None:
    """What the outbox adds to an upload's transaction, counted in statements sent to PostgreSQL
    (libpq's protocol trace: one Sync per statement), not in time: one INSERT for any number of
    events, and with the PostgreSQL broker one enqueue more."""

    async def statements_added(publisher: EventBroker | None, events: int) -> int:
        outbox.use_publisher(publisher)
        trace = tmp_path / f"trace-{events}-{publisher is not None}.txt"
        async with db.transaction() as conn:
            await conn.execute("SELECT pg_current_xact_id()")
            with trace.open("w") as sink:
                conn.pgconn.trace(sink.fileno())
                try:
                    await outbox.add_events(conn, [event(i) for i in range(events)])
                finally:
                    conn.pgconn.untrace()
        frontend = [line.split("\t") for line in trace.read_text().splitlines()]
        return sum(1 for fields in frontend if len(fields) > 3 and fields[1] == "F" and fields[3] == "Sync")

    assert await statements_added(None, 1) == 1
    assert await statements_added(None, 5) == 1
    assert await statements_added(pg_broker, 2) == 2


async def test_events_nobody_wants_skip_the_broker_and_are_swept_in_bulk(
    db: Database, pg_broker: EventBroker
) -> None:
    """No subscription: no dispatch message per transaction. The sweeper marks such events
    dispatched in one statement, and dispatches those that a subscription created meanwhile wants."""
    from tusportal.events.dispatch import DeliveryPolicy, Dispatcher
    from tusportal.events.interest import Interest, InterestedPublisher
    from tusportal.state.webhooks import WebhookRepository

    hooks = WebhookRepository(db)
    interest = Interest(hooks.subscribed_types)
    await interest.refresh()
    assert interest.known == frozenset()
    outbox.use_publisher(InterestedPublisher(pg_broker, interest))
    early, raced = event(1), NewEvent(type="tusportal.file.uploaded", subject="u2", data={})
    for e in (early, raced):
        async with db.transaction() as conn:
            await outbox.add_events(conn, [e])
    assert await messages(db) == 0
    # a subscription appears (created by another instance: this one has not reloaded yet)
    await hooks.create(
        "wh_1", url="http://127.0.0.1:9/x", event_types=["tusportal.file.uploaded"], secret="whsec_AA=="
    )
    dispatcher = Dispatcher(
        database_url=db.url, broker=pg_broker, policy=DeliveryPolicy(sweep_grace_seconds=0.001)
    )
    try:
        events, _ = await dispatcher.sweep()
        assert events == 1  # the raced event goes out again; the early one is just marked dispatched
        assert await count(db, "SELECT count(*) FROM events WHERE dispatched_at IS NULL") == 1
        assert await messages(db) == 1
        await interest.refresh()
        assert interest.wants(["tusportal.file.uploaded"]) and not interest.wants(
            ["tusportal.upload.created"]
        )
    finally:
        await dispatcher.close()
