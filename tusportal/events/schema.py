"""The public event contract: CloudEvents 1.0 JSON envelopes whose `data` is one of these models.

Consumers (AI runners) depend on these shapes. The JSON Schema of every event type is generated into
`schemas/events/` (`python -m tusportal.events.schema --write`) and `tests/events/test_schema_compat.py`
fails when a change would break an existing consumer: a removed or renamed field, a field that stops
being required, or a changed type. Adding an optional field, or a new event type, is fine.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

UPLOAD_CREATED = "tusportal.upload.created"
FILE_UPLOADED = "tusportal.file.uploaded"
UPLOAD_TERMINATED = "tusportal.upload.terminated"
UPLOAD_EXPIRED = "tusportal.upload.expired"
BATCH_COMPLETED = "tusportal.batch.completed"

SPEC_VERSION = "1.0"
SHA256_HEX = r"^[0-9a-f]{64}$"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadData(_Data):
    """An upload was created, terminated by its client, or expired."""

    upload_id: str = Field(description="The tus upload id (the last path segment of its URL)")
    size: int | None = Field(ge=0, description="Upload-Length in bytes; null while deferred")
    metadata: dict[str, str | None] = Field(description="Upload-Metadata, decoded as UTF-8")
    batch_id: str | None = Field(description="The batch the upload belongs to, if any")
    owner_id: str | None = Field(description="The account that owns the upload, if auth is on")


class UploadExpiredData(UploadData):
    offset: int = Field(ge=0, description="Bytes received before the upload expired")


class FileUploadedData(_Data):
    """Every byte of an upload is durably stored; it is safe to read."""

    upload_id: str = Field(description="The tus upload id")
    size: int = Field(ge=0, description="The file's size in bytes")
    sha256: str = Field(pattern=SHA256_HEX, description="SHA-256 of the whole file, lowercase hex")
    filename: str | None = Field(description="From metadata filename (or name), if sent")
    content_type: str | None = Field(description="From metadata filetype (or type), if sent")
    metadata: dict[str, str | None] = Field(description="Upload-Metadata, decoded as UTF-8")
    batch_id: str | None = Field(description="The batch the file belongs to, if any")
    owner_id: str | None = Field(description="The account that owns the file, if auth is on")
    storage_key: str = Field(description="Where the bytes are, inside the configured store")
    download_url: str | None = Field(description="GET this URL to download the file")
    completed_at: datetime = Field(description="When the last byte was committed")


class BatchFileData(_Data):
    upload_id: str
    filename: str | None
    size: int | None = Field(ge=0)


class BatchCompletedData(_Data):
    """Every file of a sealed (or full) batch is uploaded."""

    batch_id: str
    name: str
    metadata: dict[str, Any] = Field(description="The batch's metadata as given at creation")
    owner_id: str | None
    file_count: int = Field(ge=0)
    files: list[BatchFileData] = Field(description="The batch's files (partial uploads excluded)")
    completed_at: datetime | None


DATA_MODELS: dict[str, type[_Data]] = {
    UPLOAD_CREATED: UploadData,
    FILE_UPLOADED: FileUploadedData,
    UPLOAD_TERMINATED: UploadData,
    UPLOAD_EXPIRED: UploadExpiredData,
    BATCH_COMPLETED: BatchCompletedData,
}
EVENT_TYPES = tuple(DATA_MODELS)


def envelope(
    *,
    event_id: str,
    source: str,
    type: str,
    subject: str,
    time: datetime,
    data: dict[str, Any],
    sequence: str | None = None,
) -> dict[str, Any]:
    """A CloudEvents 1.0 JSON envelope. `sequence` (the feed cursor) is the CloudEvents sequence
    extension: opaque, lexicographically ordered."""
    doc: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": source,
        "type": type,
        "subject": subject,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    if sequence is not None:
        doc["sequence"] = sequence
    return doc


def _open_world(node: Any) -> Any:
    """Consumers must ignore fields they do not know, so the published schemas never forbid extra
    properties (the models do, to catch mistakes on our side)."""
    if isinstance(node, dict):
        return {
            k: _open_world(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)
        }
    if isinstance(node, list):
        return [_open_world(v) for v in node]
    return node


def json_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of a whole CloudEvent of this type (envelope plus `data`)."""
    data = _open_world(DATA_MODELS[event_type].model_json_schema(mode="serialization"))
    defs = data.pop("$defs", None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://tusportal.dev/schemas/events/{event_type}.json",
        "title": event_type,
        "description": f"CloudEvents 1.0 envelope of a {event_type} event",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            "id": {"type": "string", "description": "Unique per event; the webhook-id of its deliveries"},
            "source": {"type": "string", "format": "uri-reference"},
            "type": {"const": event_type},
            "subject": {"type": "string", "description": "The upload or batch id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "sequence": {"type": "string", "description": "Feed cursor of this event (pull feed only)"},
            "data": data,
        },
    }
    if defs:
        schema["$defs"] = defs
    return schema


def schema_file(directory: Path, event_type: str) -> Path:
    return directory / f"{event_type}.json"


def render(event_type: str) -> str:
    return json.dumps(json_schema(event_type), indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in EVENT_TYPES:
        path = schema_file(directory, event_type)
        path.write_text(render(event_type), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m tusportal.events.schema --write [dir]
    target = Path(sys.argv[2] if len(sys.argv) > 2 else "schemas/events")
    if sys.argv[1:2] == ["--write"]:
        for p in write_schemas(target):
            print(p)
    else:
        print(json.dumps({t: json_schema(t) for t in EVENT_TYPES}, indent=2, sort_keys=True))
