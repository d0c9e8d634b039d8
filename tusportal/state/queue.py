"""Connections for the PostgreSQL task broker (iddqueue, in events/pgqueue.py): a synchronous pool.

Autocommit, as iddqueue expects. No health check on checkout: iddqueue checks the connections it
keeps, and a dead one fails its next statement, which Dramatiq answers by restarting the consumer.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool


def task_pool(url: str, *, max_size: int) -> ConnectionPool[Any]:
    return ConnectionPool(
        url,
        min_size=0,
        max_size=max_size,
        kwargs={
            "autocommit": True,
            "application_name": "tusportal-queue",
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        },
        open=False,
    )
