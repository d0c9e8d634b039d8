"""Migration 0003 carries the PostgreSQL broker's storage: iddqueue's own schema SQL for the pinned
version, in our `tusportal_queue` schema. Bumping iddqueue without a migration fails here."""

from __future__ import annotations

import re
from importlib import resources

import iddqueue

from tusportal.events.broker import QUEUE_SCHEMA


def _statements(sql: str) -> set[str]:
    sql = re.sub(r"--[^\n]*", "", sql)
    return {re.sub(r"\s+", "", s) for s in sql.split(";") if s.strip()}


def test_migration_holds_iddqueue_schema_for_the_pinned_version() -> None:
    ours = resources.files("tusportal.state").joinpath("migrations/0003_events.sql").read_text()
    theirs = iddqueue.generate_init_sql(schema=QUEUE_SCHEMA)
    missing = _statements(theirs) - _statements(ours)
    assert not missing, "iddqueue's schema changed; add a migration with its upgrade SQL:\n" + "\n".join(
        missing
    )
