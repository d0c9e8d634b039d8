"""The embedded PostgreSQL runs with tusportal's settings (state/db.py EMBEDDED_SETTINGS), written
to a file that postgresql.conf includes once, at every start, and applied from the next start."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tusportal.state.db import EMBEDDED_CONF, EMBEDDED_SETTINGS, EmbeddedPostgres, configure_embedded


def _shown(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in EMBEDDED_SETTINGS}


def test_a_new_embedded_server_starts_with_the_settings(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    try:
        assert _shown(server.url) == EMBEDDED_SETTINGS
        assert _shown(server.url)["wal_init_zero"] == "off"  # the default is on
    finally:
        server.release()


def test_settings_are_rewritten_at_start_and_included_once(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.release()
    pgdata = tmp_path / "pg"
    (pgdata / EMBEDDED_CONF).write_text("wal_init_zero = 'on'\n")  # an older tusportal's file
    server = EmbeddedPostgres(tmp_path)  # rewrites it before the server starts
    try:
        assert _shown(server.url)["wal_init_zero"] == "off"
    finally:
        server.release()
    configure_embedded(pgdata)
    main = (pgdata / "postgresql.conf").read_text()
    assert main.count(f"include_if_exists = '{EMBEDDED_CONF}'") == 1
