"""The transactional outbox: events written in the same transaction as the state change.

Contract for callers in state/: `add_events(conn, events)` runs inside the caller's open transaction
on `conn`; it inserts one outbox row per event (one statement for all of them) and hands their ids to
the configured publisher. It never commits. It may be called several times in one transaction.

The publisher (events/broker.py, set once by the wiring in cli.py with `use_publisher`) decides what
happens next:
- a transactional publisher (the PostgreSQL broker) enqueues the dispatch message on `conn`, so the
  state change, its events and the message commit or roll back together;
- any other publisher is told the ids (`after_commit`) and sends the message once the rows are
  committed; the sweeper re-sends whatever stays undispatched.
Without a publisher (a tool that only records), or when the publisher wants none of the events (no
webhook subscription names their types), the rows wait for the sweeper, which dispatches in bulk.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg


def new_event_id() -> str:
    """A UUIDv7: time-ordered, so the outbox's primary key index is appended to, not scattered."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class NewEvent:
    """An event to record with a state change. `data` is the CloudEvents `data` member."""

    type: str  # e.g. "tusportal.file.uploaded"
    subject: str  # the upload or batch id
    data: dict[str, Any] = field(default_factory=dict)
    upload_id: str | None = None
    batch_id: str | None = None
    owner_id: str | None = None
    id: str = field(default_factory=new_event_id)  # the CloudEvents id, stable across retries


class Publisher(Protocol):
    """Hands recorded events to the broker (see the module docstring)."""

    @property
    def transactional(self) -> bool: ...

    def wants(self, types: Iterable[str]) -> bool: ...

    async def in_transaction(self, conn: psycopg.AsyncConnection[Any], event_ids: list[str]) -> None: ...

    def after_commit(self, event_ids: list[str]) -> None: ...


_publisher: Publisher | None = None


def use_publisher(publisher: Publisher | None) -> None:
    """Set once at start-up by the wiring (and by tests)."""
    global _publisher
    _publisher = publisher


def current_publisher() -> Publisher | None:
    return _publisher


_INSERT = (
    "INSERT INTO events (id, type, subject, data, upload_id, batch_id, owner_id, published_at)"
    " SELECT e.id, e.type, e.subject, e.data, e.upload_id, e.batch_id, e.owner_id,"
    " CASE WHEN %s THEN now() END"
    " FROM jsonb_to_recordset(%s::jsonb) AS e(id uuid, type text, subject text, data jsonb,"
    " upload_id text, batch_id text, owner_id text)"
)


def row_dicts(events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """The outbox rows of `events`, as `jsonb_to_recordset` in OUTBOX_ROWS reads them."""
    return [
        {
            "id": e.id,
            "type": e.type,
            "subject": e.subject,
            "data": e.data,
            "upload_id": e.upload_id,
            "batch_id": e.batch_id,
            "owner_id": e.owner_id,
        }
        for e in events
    ]


def _rows(events: Sequence[NewEvent]) -> str:
    return json.dumps(row_dicts(events), separators=(",", ":"))


def needs_publisher(events: Sequence[NewEvent]) -> bool:
    """Must a broker message be enqueued (or handed over after commit) for these events? When not,
    their outbox rows can go into any statement (the sweeper marks them dispatched in bulk)."""
    publisher = _publisher
    return publisher is not None and publisher.wants(e.type for e in events)


# outbox rows for a statement of its own: `WITH ..., outbox AS (<this> WHERE ...)`, with the rows
# as the named parameter %(outbox_rows)s; never published in the statement (see single_statement)
OUTBOX_ROWS = _INSERT.replace("%s::jsonb", "%(outbox_rows)s::jsonb").replace(
    "CASE WHEN %s", "CASE WHEN false"
)


def single_statement(
    sql: str, params: dict[str, Any], events: Sequence[NewEvent]
) -> tuple[str, dict[str, Any]] | None:
    """When no broker message has to be enqueued with these events (nobody subscribes to them,
    or the broker is not transactional and publishes after commit through the relay), the state
    change (`sql`: one INSERT/UPDATE ... RETURNING with named parameters) and the outbox rows can be
    one statement: a data-modifying CTE, atomic and one round trip. Returns None otherwise."""
    if needs_publisher(events):
        return None
    combined = (
        f"WITH changed AS ({sql}), outbox AS ({OUTBOX_ROWS} WHERE EXISTS (SELECT 1 FROM changed))"
        " SELECT * FROM changed"
    )
    return combined, {**params, "outbox_rows": _rows(events)}


async def add_events(conn: psycopg.AsyncConnection[Any], events: Sequence[NewEvent]) -> None:
    if not events:
        return
    # nobody subscribes to these: the sweeper marks them dispatched in bulk
    publisher = _publisher if needs_publisher(events) else None
    transactional = publisher is not None and publisher.transactional
    ids = [e.id for e in events]
    await conn.execute(_INSERT, (transactional, _rows(events)))
    if publisher is None:
        return
    if transactional:
        await publisher.in_transaction(conn, ids)
    else:
        publisher.after_commit(ids)
