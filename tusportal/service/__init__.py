"""The service layer: the one place that combines upload state, storage and the outbox.

It knows no HTTP. `UploadService` (core.py) creates, appends to, terminates and expires uploads;
concat.py assembles parallel uploads; batches.py groups files into batches.
"""

from tusportal.service.batches import BatchService
from tusportal.service.core import ServiceConfig, UploadService, new_upload_id

__all__ = ["BatchService", "ServiceConfig", "UploadService", "new_upload_id"]
