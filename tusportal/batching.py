"""Batch progress arithmetic and the batch document: pure functions, property-tested."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LIVE = ("active", "finished")


@dataclass(frozen=True)
class FileProgress:
    length: int | None  # None while the upload's length is deferred
    offset: int
    state: str  # active, finished, terminated, expired


@dataclass(frozen=True)
class Progress:
    files_total: int  # live files: uploading or finished
    files_completed: int
    bytes_received: int
    bytes_total: int  # sum of the known lengths of live files
    lengths_known: bool  # False while some live file has a deferred length


def progress(files: Iterable[FileProgress]) -> Progress:
    """Terminated and expired files drop out of the totals: they will never complete."""
    total = completed = received = size = 0
    known = True
    for f in files:
        if f.state not in LIVE:
            continue
        total += 1
        if f.state == "finished":
            completed += 1
        received += f.offset if f.length is None else min(f.offset, f.length)
        if f.length is None:
            known = False
        else:
            size += f.length
    return Progress(total, completed, received, size, known)


def percent(p: Progress) -> float | None:
    if not p.lengths_known:
        return None
    if p.bytes_total == 0:
        return 100.0 if p.files_total == p.files_completed else 0.0
    return round(100.0 * p.bytes_received / p.bytes_total, 2)


def document(batch: Any, files: list[Any], file_url: str) -> dict[str, Any]:
    """The JSON document of a batch (`batch` and `files` are state rows)."""
    p = progress(FileProgress(f.length, f.offset, f.state) for f in files)
    return {
        "id": batch.id,
        "name": batch.name,
        "state": batch.state,
        "expected_files": batch.expected_files,
        "metadata": batch.metadata,
        "created_at": batch.created_at.isoformat(),
        "sealed_at": batch.sealed_at.isoformat() if batch.sealed_at else None,
        "completed_at": batch.completed_at.isoformat() if batch.completed_at else None,
        "cancelled_at": batch.cancelled_at.isoformat() if batch.cancelled_at else None,
        "files_total": p.files_total,
        "files_completed": p.files_completed,
        "bytes_received": p.bytes_received,
        "bytes_total": p.bytes_total,
        "lengths_known": p.lengths_known,
        "percent": percent(p),
        "files": [
            {
                "id": f.id,
                "url": file_url + f.id,
                "filename": f.filename,
                "state": f.state,
                "bytes_received": f.offset,
                "bytes_total": f.length,
                "created_at": f.created_at.isoformat(),
                "finished_at": f.finished_at.isoformat() if f.finished_at else None,
            }
            for f in files
        ],
    }
