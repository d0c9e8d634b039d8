"""The transactional outbox: events written in the same transaction as the state change.

Contract for callers in state/: `add_events(conn, events)` runs inside the caller's open transaction
on `conn`; it inserts one outbox row per event (and, with the PostgreSQL broker, enqueues the
dispatch message in that same transaction). It never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass(frozen=True)
class NewEvent:
    """An event to record with a state change. `data` is the CloudEvents `data` member."""

    type: str  # e.g. "tusportal.file.uploaded"
    subject: str  # the upload or batch id
    data: dict[str, Any] = field(default_factory=dict)
    upload_id: str | None = None
    batch_id: str | None = None
    owner_id: str | None = None


async def add_events(conn: psycopg.AsyncConnection[Any], events: Sequence[NewEvent]) -> None:
    """Placeholder until the events issue lands: events are accepted and not recorded."""
    return None
