"""What the UI pages are given by create_app: the services they call and a few settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from tusportal import auth
from tusportal.events.management import EventManagement
from tusportal.events.monitor import EventMonitor
from tusportal.service import BatchService, UploadService
from tusportal.service.files import FileCatalog
from tusportal.web.auth import principal


@dataclass(frozen=True)
class UIDeps:
    uploads: UploadService
    files: FileCatalog
    batches: BatchService
    events: EventManagement
    monitor: EventMonitor
    tus_base: str  # where the tus endpoint is mounted, e.g. "/files/"
    node_modules: Path  # where the npm assets are read from


def owner(request: Request) -> str | None:
    """The owner a listing is restricted to (None: every owner — anonymous mode or an admin)."""
    return auth.owner_filter(principal(request))
