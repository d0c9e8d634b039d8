"""`bind_upload` and `upload_context` (tusportal/logging.py), asserted with capture_logs."""

from __future__ import annotations

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

from tusportal.logging import bind_upload, upload_context

log = structlog.get_logger()


def test_upload_context_binds_for_the_block_and_restores_what_was_bound() -> None:
    clear_contextvars()
    bind_contextvars(request_id="r1")
    bind_upload("outer", "owner-1")
    with structlog.testing.capture_logs(processors=[merge_contextvars]) as logs:
        with upload_context("inner"):  # no owner known: the outer one must not leak in
            log.info("inside")
        log.info("after")
        with upload_context("other", "owner-2"):
            log.info("inside_again")
    clear_contextvars()
    assert logs[0] == {"event": "inside", "log_level": "info", "request_id": "r1", "upload_id": "inner"}
    assert logs[1]["upload_id"] == "outer" and logs[1]["owner_id"] == "owner-1"
    assert logs[2]["upload_id"] == "other" and logs[2]["owner_id"] == "owner-2"


def test_bind_upload_skips_unknown_values() -> None:
    clear_contextvars()
    bind_upload(None, None)
    with structlog.testing.capture_logs(processors=[merge_contextvars]) as logs:
        log.info("nothing_bound")
    assert logs == [{"event": "nothing_bound", "log_level": "info"}]
