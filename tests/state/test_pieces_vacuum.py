"""The pending pieces' table and its TOAST table are vacuumed at every autovacuum look, unthrottled
(migration 0008): their rows live seconds, and the default thresholds let the table grow by
everything written between two runs."""

from __future__ import annotations

from typing import Any


async def test_pending_pieces_tables_carry_the_vacuum_settings(postgres: Any) -> None:
    db = await postgres.migrated(max_size=1)
    try:
        row = await db.fetchone(
            "SELECT c.reloptions, t.reloptions FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid"
            " WHERE c.relname = 'pending_pieces'"
        )
    finally:
        await db.close()
    assert row is not None
    table, toast = (dict(option.split("=", 1) for option in options or []) for options in row)
    assert table == {
        "autovacuum_vacuum_threshold": "16",
        "autovacuum_vacuum_scale_factor": "0",
        "autovacuum_vacuum_cost_delay": "0",
    }
    assert toast == {
        "autovacuum_vacuum_threshold": "4096",
        "autovacuum_vacuum_scale_factor": "0",
        "autovacuum_vacuum_cost_delay": "0",
    }
