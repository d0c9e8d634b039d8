"""Every protocol failure, declared once: a fixed HTTP status, a stable code and a message.

The web layer maps `TusError` (and so every subclass) to a response in one exception handler;
nothing else in the package knows about HTTP status codes.
"""

from __future__ import annotations

from typing import ClassVar


class TusError(Exception):
    """Base class. Subclasses set `status`, `code` and a default `message`."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "bad request"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = message or self.message
        self.headers = headers or {}
        super().__init__(self.detail)


# --- request validation (400) -------------------------------------------------------------


class InvalidHeader(TusError):
    code = "invalid_header"
    message = "invalid header"


class InvalidOffset(InvalidHeader):
    code = "invalid_offset"
    message = "Upload-Offset must be a non-negative integer"


class MissingOffset(InvalidHeader):
    code = "missing_offset"
    message = "Upload-Offset header is required"


class InvalidLength(InvalidHeader):
    code = "invalid_length"
    message = "Upload-Length must be a non-negative integer"


class InvalidDeferLength(InvalidHeader):
    code = "invalid_defer_length"
    message = "Upload-Defer-Length must be 1"


class MissingLength(InvalidHeader):
    code = "missing_length"
    message = "Upload-Length or Upload-Defer-Length: 1 is required"


class AmbiguousLength(InvalidHeader):
    code = "ambiguous_length"
    message = "Upload-Length and Upload-Defer-Length must not both be sent"


class LengthAlreadySet(InvalidHeader):
    code = "length_already_set"
    message = "Upload-Length is already set and cannot be changed"


class LengthBelowOffset(InvalidHeader):
    code = "length_below_offset"
    message = "Upload-Length is smaller than the current offset"


class InvalidMetadata(InvalidHeader):
    code = "invalid_metadata"
    message = "Upload-Metadata is malformed"


class InvalidChecksum(InvalidHeader):
    code = "invalid_checksum"
    message = "Upload-Checksum must be '<algorithm> <base64 digest>'"


class UnsupportedChecksumAlgorithm(InvalidHeader):
    code = "unsupported_checksum_algorithm"
    message = "unsupported checksum algorithm"


class InvalidConcat(InvalidHeader):
    code = "invalid_concat"
    message = "Upload-Concat is malformed"


class InvalidMethodOverride(InvalidHeader):
    code = "invalid_method_override"
    message = "X-HTTP-Method-Override names an unsupported method"


class InvalidContentLength(InvalidHeader):
    code = "invalid_content_length"
    message = "Content-Length is malformed"


class UploadInterrupted(TusError):
    status = 400
    code = "upload_interrupted"
    message = "this request was stopped because a newer request for the same upload arrived"


# --- protocol state --------------------------------------------------------------------


class UnsupportedVersion(TusError):
    status = 412
    code = "unsupported_version"
    message = "Tus-Resumable header is missing or names an unsupported version; this server supports 1.0.0"


class UnsupportedMediaType(TusError):
    status = 415
    code = "unsupported_media_type"
    message = "PATCH requests must have Content-Type: application/offset+octet-stream"


class OffsetMismatch(TusError):
    status = 409
    code = "offset_mismatch"
    message = "Upload-Offset does not match the upload's current offset"


class UploadNotFinished(TusError):
    status = 409
    code = "upload_not_finished"
    message = "the upload is not finished yet"


class ChecksumMismatch(TusError):
    status = 460
    code = "checksum_mismatch"
    message = "the checksum of the received chunk does not match Upload-Checksum; the chunk was discarded"


class UploadTooLarge(TusError):
    status = 413
    code = "upload_too_large"
    message = "the upload is larger than this server accepts"


class BodyExceedsLength(TusError):
    status = 413
    code = "body_exceeds_length"
    message = "the request body goes beyond Upload-Length; the chunk was discarded"


class UploadNotFound(TusError):
    status = 404
    code = "upload_not_found"
    message = "upload not found"


class UploadExpired(TusError):
    status = 410
    code = "upload_expired"
    message = "upload expired"


class UploadLocked(TusError):
    status = 423
    code = "upload_locked"
    message = "the upload is in use by another request; retry shortly"


class MethodNotAllowed(TusError):
    status = 405
    code = "method_not_allowed"
    message = "method not allowed"


class ConcatenationForbidden(TusError):
    status = 403
    code = "concatenation_forbidden"
    message = "a final upload cannot be patched"


class RangeNotSatisfiable(TusError):
    status = 416
    code = "range_not_satisfiable"
    message = "the requested range is not satisfiable"


# --- server side ----------------------------------------------------------------------


class StorageUnavailable(TusError):
    status = 503
    code = "storage_unavailable"
    message = "storage is temporarily unavailable; retry later"


class DatabaseUnavailable(TusError):
    status = 503
    code = "database_unavailable"
    message = "the database is temporarily unavailable; retry later"


# --- batches and concatenation -----------------------------------------------------------


class BatchNotFound(TusError):
    status = 404
    code = "batch_not_found"
    message = "batch not found"


class BatchNotJoinable(TusError):
    status = 400
    code = "batch_not_joinable"
    message = "the batch named in Upload-Metadata does not accept files"


class BatchStateConflict(TusError):
    status = 409
    code = "batch_state_conflict"
    message = "the batch is not in a state that allows this"


class InvalidRequestBody(TusError):
    status = 400
    code = "invalid_request_body"
    message = "the request body is not valid"


class InvalidFinal(TusError):
    status = 400
    code = "invalid_final"
    message = "the final upload cannot be created from these parts"


class PartialNotFound(TusError):
    status = 404
    code = "partial_not_found"
    message = "a partial upload named in Upload-Concat does not exist"
