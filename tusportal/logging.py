"""structlog configuration (console for people, JSON for machines) and the context bound to lines."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

# one encoder for every line: json.dumps(..., default=...) builds a new encoder per call, which
# costs more than encoding a log line (structlog's JSONRenderer does that)
_ENCODER = json.JSONEncoder(default=repr, ensure_ascii=False, separators=(", ", ": "))


def render_json(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> str:
    return _ENCODER.encode(event_dict)


class _Timestamp:
    """`timestamp` as ISO 8601 UTC with microseconds, like structlog's TimeStamper(fmt="iso",
    utc=True), with the date and time formatted once per second instead of for every line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        now = time.time()
        second = int(now)
        if second != self._second:  # a race between threads writes the same value twice
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event_dict


def resolve_format(fmt: str) -> str:
    """`auto`: console lines for a person at a terminal, JSON lines when stderr is a pipe or file."""
    if fmt == "auto":
        return "console" if sys.stderr.isatty() else "json"
    return fmt


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    renderer: structlog.typing.Processor = (
        render_json
        if resolve_format(fmt) == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _Timestamp(),
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
