"""The PostgreSQL broker: iddqueue 0.13.0 (pinned), with a leaner consumer.

iddqueue's consumer runs a dozen round trips per message; on a small machine that, not the
deliveries, limits throughput. The subclass below keeps iddqueue's queries and its locking protocol
(a session advisory lock per message while it is processed) and changes only how they are sent:

- the backoff counter is reset when the prefetch has room again (0.13.0 never resets it, so after a
  few busy moments every full prefetch sleeps up to a second);
- no ping before every use of the consumer's connection (psycopg knows when it is closed or broken;
  a connection that died silently fails its next statement and Dramatiq restarts the consumer);
- claiming, acknowledging and unlocking are single statements in autocommit (each is atomic on its
  own) instead of BEGIN/statement/COMMIT, and unlocking is skipped when nothing waits for it.
Pausing and cancellation (queue control) keep iddqueue's own code paths.
"""

from __future__ import annotations

from queue import Empty
from typing import Any
from uuid import UUID

import iddqueue.broker as idd
from dramatiq import Message, Middleware
from iddqueue import PostgresBroker
from iddqueue.utils import raise_connection_error

from tusportal.state.queue import task_pool


class LeanConsumer(idd.PostgresConsumer):
    def __next__(self) -> Any:
        if len(self.in_processing) < self.prefetch:
            self.misses = 0
        return super().__next__()

    def get_consume_conn(self) -> Any:
        conn = self._consume_conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        return super().get_consume_conn()

    @raise_connection_error
    def consume_one(self, message: Any) -> Any:
        if self.queue_control:
            return super().consume_one(message)
        if str(UUID(str(message.message_id))) in self.in_processing:
            return None
        lock = idd.message_lock(
            message.copy(queue_name=self.queue_name), schema=self.queries.schema, prefix=self.queries.prefix
        )
        with self.get_consume_conn().cursor() as curs:
            curs.execute(self.queries.CONSUME_ONE, (message.message_id, self.queue_name, lock))
            row = curs.fetchone()
            if row is None:  # someone else has it; drop the lock in case we took it
                curs.execute(self.queries.RELEASE_ONE, (lock,))
                return None
        return Message.decode(row[0].encode())

    @raise_connection_error
    def ack(self, message: Any) -> None:
        if getattr(message, "_pg_cancelled", False) or getattr(message, "_pg_paused", False):
            return super().ack(message)
        channel = self.queries.channel(message.queue_name, "ack")
        params = (
            idd.Jsonb(idd.tidy4json(message)),
            message.message_id,
            message.queue_name,
            channel,
            message.message_id,
        )
        with self.pool.connection() as conn:
            conn.execute(self.queries.ACK, params)
        self.unlock_q.put_nowait(message)
        self.in_processing.remove(str(UUID(str(message.message_id))))
        return None

    @raise_connection_error
    def purge_locks(self) -> None:
        if self.unlock_q.empty():
            return
        with self.get_consume_conn().cursor() as curs:
            while True:
                try:
                    message = self.unlock_q.get(block=False)
                except Empty:
                    return
                lock = idd.message_lock(message, schema=self.queries.schema, prefix=self.queries.prefix)
                curs.execute(self.queries.RELEASE_ONE, (lock,))
                # a retry may have been queued while this attempt still held its lock
                curs.execute(
                    self.queries.NOTIFY_UNLOCKED,
                    (
                        self.queries.channel(message.queue_name, "enqueue"),
                        message.message_id,
                        message.message_id,
                        message.queue_name,
                    ),
                )
                self.unlock_q.task_done()


class LeanPostgresBroker(PostgresBroker):
    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Any:
        return LeanConsumer(
            pool=self.pool,
            queue_name=queue_name,
            prefetch=prefetch,
            timeout=timeout,
            queries=self.queries,
            queue_control=self.queue_control,
        )


def postgres_broker(
    url: str, *, schema: str, pool_size: int, middleware: list[Middleware]
) -> tuple[Any, Any]:
    """The broker and its pool (lazy: a process that only publishes in transactions opens nothing).
    The caller closes the pool."""
    pool = task_pool(url, max_size=pool_size)
    return LeanPostgresBroker(pool=pool, results=False, schema=schema, middleware=middleware), pool
