"""structlog configuration (console for people, JSON for machines) and the context bound to lines."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import structlog


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


# --- context bound to log lines ----------------------------------------------------------------
#
# The request id is bound by web/observability.py for each request. The upload a line is about is
# bound where it becomes known: the tus endpoints (the id in the URL), the service (a new upload's
# id, and every upload's owner once it is read), the event worker (each delivery's upload), the
# cleanup jobs (each upload they remove). Every line logged below, in any layer, then carries it.

UPLOAD_FIELDS = ("upload_id", "owner_id")


def bind_upload(upload_id: str | None, owner_id: str | None = None) -> None:
    """Bind `upload_id` (and `owner_id`, when known) to every later log line of the current context,
    for a request: its task's context ends with it."""
    fields = {k: v for k, v in (("upload_id", upload_id), ("owner_id", owner_id)) if v is not None}
    if fields:
        structlog.contextvars.bind_contextvars(**fields)


@contextlib.contextmanager
def upload_context(upload_id: str | None, owner_id: str | None = None) -> Iterator[None]:
    """`bind_upload` for a block only; what was bound before comes back after it (loops over
    uploads, worker tasks)."""
    before = structlog.contextvars.get_contextvars()
    structlog.contextvars.unbind_contextvars(*UPLOAD_FIELDS)
    bind_upload(upload_id, owner_id)
    try:
        yield
    finally:
        structlog.contextvars.unbind_contextvars(*UPLOAD_FIELDS)
        previous = {k: before[k] for k in UPLOAD_FIELDS if k in before}
        if previous:
            structlog.contextvars.bind_contextvars(**previous)
