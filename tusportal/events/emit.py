"""Build the events that upload state changes record in the outbox.

The service calls these; each returns a `NewEvent` whose `data` is the event's public contract.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tusportal.state.outbox import NewEvent
from tusportal.state.uploads import Upload

UPLOAD_CREATED = "tusportal.upload.created"
FILE_UPLOADED = "tusportal.file.uploaded"
UPLOAD_TERMINATED = "tusportal.upload.terminated"
UPLOAD_EXPIRED = "tusportal.upload.expired"
BATCH_COMPLETED = "tusportal.batch.completed"


def _base(upload: Upload) -> dict[str, object]:
    return {
        "upload_id": upload.id,
        "size": upload.length,
        "metadata": upload.metadata,
        "batch_id": upload.batch_id,
        "owner_id": upload.owner_id,
    }


def _event(kind: str, upload: Upload, data: dict[str, object]) -> NewEvent:
    return NewEvent(
        type=kind,
        subject=upload.id,
        data=data,
        upload_id=upload.id,
        batch_id=upload.batch_id,
        owner_id=upload.owner_id,
    )


def upload_created(upload: Upload) -> NewEvent:
    return _event(UPLOAD_CREATED, upload, _base(upload))


def file_uploaded(upload: Upload, *, sha256: str | None, download_url: str | None) -> NewEvent:
    data = _base(upload)
    data.update(
        sha256=sha256,
        filename=upload.metadata.get("filename") or upload.metadata.get("name"),
        content_type=upload.metadata.get("filetype") or upload.metadata.get("type"),
        storage_key=upload.storage_key,
        download_url=download_url,
        completed_at=datetime.now(UTC).isoformat(),
    )
    return _event(FILE_UPLOADED, upload, data)


def upload_terminated(upload: Upload) -> NewEvent:
    return _event(UPLOAD_TERMINATED, upload, _base(upload))


def upload_expired(upload: Upload) -> NewEvent:
    data = _base(upload)
    data["offset"] = upload.offset
    return _event(UPLOAD_EXPIRED, upload, data)
