"""The only module that talks to minio: a narrow, synchronous S3 client for the store.

Every method is one S3 request (or one listing), retried with tenacity when the failure is
transient (connection errors, timeouts, 5xx, throttling) and translated into our errors once, here:
`StorageUnavailable` (503) when S3 cannot be reached or keeps failing, `StorageMisconfigured`
(503) for credentials or a missing bucket, `ObjectMissing` / `MultipartUploadMissing` when
something the state refers to is gone. The urllib3 pool underneath does not retry (one layer).

Multipart calls use minio's `_create_multipart_upload`, `_upload_part`, ... : the public API only
uploads whole streams, and resuming a multipart upload across requests and instances needs the
individual S3 operations. They are pinned by the minio version range in pyproject and exercised by
the contract suite against a real S3 server.

Payload integrity: a body sent with a CRC-32 (`crc32`, the `x-amz-checksum-crc32` header) goes
with `UNSIGNED-PAYLOAD` in the signature, as the AWS SDKs send it by default; S3 checks the CRC and
answers `BadDigest` when the bytes it received differ. Without one, minio signs the payload's
SHA-256 (HTTP) or sends its Content-MD5 (HTTPS): both hash every byte several times slower than
a CRC-32 (see docs/s3.md, "Payload checksums"). A provider that refuses the checksum headers
(Backblaze B2 answers `InvalidArgument: Unsupported header ...`) is noticed at the first refusal:
the request is sent again without them, and the client sends none from then on.

Methods block: the store calls them from its thread pool, never on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement, tostring

import structlog
import urllib3
from minio import Minio
from minio.datatypes import Part as MinioPart
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import DictType
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from zlib_ng import zlib_ng

from tusportal import metrics
from tusportal.errors import StorageUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "SlowDownRead",
        "SlowDownWrite",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "OperationAborted",
        "XMinioServerNotInitialized",
        # the body's checksum did not match what S3 received: damaged on the way, worth a resend
        "BadDigest",
    }
)
MISCONFIGURED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "NoSuchBucket",
        "AuthorizationHeaderMalformed",
    }
)


class StorageMisconfigured(StorageUnavailable):
    code = "storage_misconfigured"
    message = "object storage rejected the server's requests (credentials or bucket); retry later"


class StorageInconsistent(StorageUnavailable):
    status = 500
    code = "storage_inconsistent"
    message = "the stored bytes of this upload are not where the server expected them"


class ObjectMissing(StorageInconsistent):
    message = "an object of this upload is missing from object storage"


class MultipartUploadMissing(StorageInconsistent):
    message = "the multipart upload of this upload is missing from object storage"


class _Transient(Exception):
    """A failure worth another try; carries what to report if the tries run out."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    max_seconds: float = 20.0
    initial_wait: float = 0.1
    max_wait: float = 2.0


def _classify(exc: BaseException, operation: str) -> BaseException:
    """The error to raise (or _Transient to retry) for a minio/urllib3 failure."""
    if isinstance(exc, S3Error):
        if exc.code in TRANSIENT_CODES:
            return _Transient(exc)
        if exc.code in MISCONFIGURED_CODES:
            return StorageMisconfigured(f"object storage refused {operation}: {exc.code}")
        if exc.code == "NoSuchUpload":
            return MultipartUploadMissing()
        if exc.code == "NoSuchKey":
            return ObjectMissing()
        return StorageUnavailable(f"object storage failed {operation}: {exc.code}")
    if isinstance(exc, ServerError | InvalidResponseError):
        status = getattr(exc, "_code", None) if isinstance(exc, InvalidResponseError) else exc.status_code
        if status is None or status >= 500 or status == 429:
            return _Transient(exc)
        return StorageUnavailable(f"object storage failed {operation}: HTTP {status}")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | MinioException):
        return _Transient(exc)
    return exc


def http_pool(connections: int, connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    """The connection pool for minio: big enough for every I/O thread, and no retries of its own."""
    import certifi

    return urllib3.PoolManager(
        num_pools=4,
        maxsize=connections,
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
    )


CRC32_HEADER = "x-amz-checksum-crc32"


def crc32_checksum(data: bytes) -> str:
    """The body's CRC-32 as S3 takes it: big-endian, base64. zlib-ng's is several times faster than
    zlib's (about 16 GB/s against 2-3 GB/s here) and, like it, lets go of the GIL on big data."""
    return base64.b64encode(zlib_ng.crc32(data).to_bytes(4, "big")).decode()


def _refuses_checksums(exc: BaseException) -> bool:
    """Does S3 refuse the request because it does not know an `x-amz-checksum-*` header?"""
    return (
        isinstance(exc, S3Error)
        and exc.code in ("InvalidArgument", "NotImplemented")
        and "checksum" in (exc.message or "").lower()
    )


class ChecksumMinio(Minio):
    """minio, except that a request carrying a CRC-32 of its body is signed with
    `UNSIGNED-PAYLOAD` and sent without Content-MD5: S3 checks the CRC, so hashing the body again
    (SHA-256 for the signature over HTTP, MD5 over HTTPS) would only spend CPU. Every other
    request is built by minio as it is. `_build_headers` is minio's private hook (pinned minio)."""

    def _build_headers(
        self, host: str, headers: Any = None, body: bytes | None = None, creds: Any = None
    ) -> Any:
        if body and creds and headers and CRC32_HEADER in headers:
            built, date = super()._build_headers(host, headers, None, creds)
            built["Content-Length"] = str(len(body))
            built["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
            return built, date
        return super()._build_headers(host, headers, body, creds)


class S3Client:
    def __init__(self, minio: Minio, bucket: str, retry: RetryPolicy | None = None, *, crc32: bool = False):
        """`crc32`: send whole objects (PutObject) with their CRC-32 (with a ChecksumMinio, then
        unsigned). Parts carry one when their multipart upload was created with `crc32`, whatever
        this says: S3 fixes an upload's algorithm at its creation and wants every part's checksum
        at CompleteMultipartUpload."""
        self.minio = minio
        self.bucket = bucket
        self.retry = retry or RetryPolicy()
        self.crc32 = crc32

    # --- the retry/translate wrapper ----------------------------------------------------

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        policy = self.retry

        def attempt() -> T:
            started = time.perf_counter()
            try:
                return fn()
            except Exception as exc:
                classified = _classify(exc, operation)
                if classified is exc:
                    raise
                raise classified from exc
            finally:
                metrics.S3_REQUEST_SECONDS.labels(operation).observe(time.perf_counter() - started)

        def log_retry(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            log.warning("s3_retry", operation=operation, attempt=state.attempt_number, error=str(exc))

        retrying = _Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
            ),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            log.error("s3_unavailable", operation=operation, error=str(exc.cause))
            raise StorageUnavailable(f"object storage unavailable ({operation}): {exc.cause}") from exc.cause

    # --- operations ---------------------------------------------------------------------

    def ensure_bucket(self, region: str | None = None) -> None:
        def run() -> None:
            if not self.minio.bucket_exists(self.bucket):
                try:
                    self.minio.make_bucket(self.bucket, location=region)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        self._call("ensure_bucket", run)

    def bucket_reachable(self) -> bool:
        return self._call("bucket_exists", lambda: self.minio.bucket_exists(self.bucket))

    def _checksums_refused(self, operation: str, exc: S3Error) -> None:
        """The provider does not take checksum headers: send none from now on (this process)."""
        if self.crc32:
            self.crc32 = False
            log.warning(
                "s3_checksums_unsupported",
                operation=operation,
                error=f"{exc.code}: {exc.message}",
                hint="sending bodies without x-amz-checksum-crc32 from now on; "
                "TUSPORTAL_S3_PAYLOAD_CHECKSUM=legacy says so from the start",
            )

    def put_object(self, name: str, data: bytes, content_type: str | None = None) -> str:
        headers = {"Content-Type": content_type or "application/octet-stream"}

        def run() -> str:
            sent = dict(headers)
            if self.crc32 and data:
                sent[CRC32_HEADER] = crc32_checksum(data)
            try:
                result = self.minio._put_object(self.bucket, name, data, headers=dict(sent))
            except S3Error as exc:
                if CRC32_HEADER not in sent or not _refuses_checksums(exc):
                    raise
                self._checksums_refused("put_object", exc)
                result = self.minio._put_object(self.bucket, name, data, headers=dict(headers))
            return str(result.etag)

        return self._call("put_object", run)

    def get_range(self, name: str, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of an object (fewer only if the object is shorter)."""
        if length <= 0:
            return b""

        def run() -> bytes:
            response = self.minio.get_object(self.bucket, name, offset=start, length=length)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        return self._call("get_object", run)

    def stream_range(self, name: str, start: int, length: int, chunk: int) -> Generator[bytes, None, None]:
        """Yield bytes [start, start+length) of an object. Only opening the stream is retried."""
        response = self._call(
            "get_object", lambda: self.minio.get_object(self.bucket, name, offset=start, length=length)
        )
        try:
            while True:
                try:
                    data = response.read(chunk)
                except Exception as exc:
                    classified = _classify(exc, "get_object")
                    cause = classified.cause if isinstance(classified, _Transient) else classified
                    raise StorageUnavailable(f"object storage read failed: {cause}") from exc
                if not data:
                    return
                yield bytes(data)
        finally:
            response.close()
            response.release_conn()

    def create_multipart_upload(
        self, name: str, content_type: str | None = None, *, crc32: bool = False
    ) -> str:
        """`crc32`: every part of this upload is sent with its CRC-32 (`upload_part(checksum=)`),
        and named with it at completion."""
        headers = self._multipart_headers(content_type, crc32)
        return self._call(
            "create_multipart_upload",
            lambda: self.minio._create_multipart_upload(self.bucket, name, dict(headers)),
        )

    def start_multipart_upload(self, name: str, content_type: str | None = None) -> tuple[str, str | None]:
        """A multipart upload for the store's writers: (upload id, "crc32" when its parts carry
        CRC-32 checksums, else None), with CRC-32 unless the client sends none or the provider
        refuses the algorithm (then it is created without, and the client sends none from now on)."""

        def run() -> tuple[str, str | None]:
            create = self.minio._create_multipart_upload
            if self.crc32:
                try:
                    return create(self.bucket, name, self._multipart_headers(content_type, True)), "crc32"
                except S3Error as exc:
                    if not _refuses_checksums(exc):
                        raise
                    self._checksums_refused("create_multipart_upload", exc)
            return create(self.bucket, name, self._multipart_headers(content_type, False)), None

        return self._call("create_multipart_upload", run)

    @staticmethod
    def _multipart_headers(content_type: str | None, crc32: bool) -> DictType:
        headers: DictType = {"Content-Type": content_type or "application/octet-stream"}
        if crc32:
            headers["x-amz-checksum-algorithm"] = "CRC32"
        return headers

    def upload_part(
        self, name: str, upload_id: str, number: int, data: bytes, checksum: str | None = None
    ) -> str:
        """`checksum`: the part's `crc32_checksum`, for an upload created with `crc32`."""
        headers = {CRC32_HEADER: checksum} if checksum is not None else None
        return self._call(
            "upload_part",
            lambda: self.minio._upload_part(
                self.bucket, name, data, dict(headers) if headers else None, upload_id, number
            ),
        )

    def upload_part_copy(
        self, name: str, upload_id: str, number: int, source: str, start: int, length: int
    ) -> str:
        """UploadPartCopy: a part made on the server from a byte range of another object."""
        headers = {
            "x-amz-copy-source": quote(f"/{self.bucket}/{source}"),
            "x-amz-copy-source-range": f"bytes={start}-{start + length - 1}",
        }

        def run() -> str:
            etag, _ = self.minio._upload_part_copy(self.bucket, name, upload_id, number, dict(headers))
            return str(etag)

        return self._call("upload_part_copy", run)

    def complete_multipart_upload(
        self, name: str, upload_id: str, parts: list[tuple[int, str]] | list[tuple[int, str, str | None]]
    ) -> None:
        """`parts`: (number, etag) or (number, etag, CRC-32 checksum or None) in order."""
        tries = 0

        def run() -> None:
            nonlocal tries
            tries += 1
            try:
                if any(len(p) > 2 and p[2] is not None for p in parts):
                    self._complete_with_checksums(name, upload_id, parts)
                else:
                    self.minio._complete_multipart_upload(
                        self.bucket, name, upload_id, [MinioPart(p[0], p[1]) for p in parts]
                    )
            except S3Error as exc:
                # a retry after a lost answer finds the upload already completed
                if exc.code == "NoSuchUpload" and tries > 1 and self._exists(name):
                    return
                raise

        self._call("complete_multipart_upload", run)

    def _complete_with_checksums(
        self, name: str, upload_id: str, parts: list[tuple[int, str]] | list[tuple[int, str, str | None]]
    ) -> None:
        """CompleteMultipartUpload naming each part's CRC-32 (minio's own leaves them out)."""
        root = Element("CompleteMultipartUpload")
        for part in parts:
            tag = SubElement(root, "Part")
            SubElement(tag, "PartNumber").text = str(part[0])
            SubElement(tag, "ETag").text = f'"{part[1]}"'
            if len(part) > 2 and part[2] is not None:
                SubElement(tag, "ChecksumCRC32").text = part[2]
        body = tostring(root)
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        headers: DictType = {"Content-Type": "application/xml", "Content-MD5": md5}
        response = self.minio._execute(
            "POST", self.bucket, name, body=body, headers=headers, query_params={"uploadId": upload_id}
        )
        # S3 may answer 200 with an error document once it has started to combine the parts
        if b"<Error>" in response.data[:512]:
            raise S3Error.fromxml(response)

    def abort_multipart_upload(self, name: str, upload_id: str) -> None:
        def run() -> None:
            try:
                self.minio._abort_multipart_upload(self.bucket, name, upload_id)
            except S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise

        self._call("abort_multipart_upload", run)

    def list_multipart_uploads(self, name: str) -> list[str]:
        """Upload ids of the in-progress multipart uploads of exactly this object."""

        def run() -> list[str]:
            ids: list[str] = []
            key_marker: str | None = None
            id_marker: str | None = None
            while True:
                result = self.minio._list_multipart_uploads(
                    self.bucket, prefix=name, key_marker=key_marker, upload_id_marker=id_marker
                )
                ids += [u.upload_id for u in result.uploads if u.object_name == name and u.upload_id]
                if not result.is_truncated:
                    return ids
                key_marker, id_marker = result.next_key_marker, result.next_upload_id_marker

        return self._call("list_multipart_uploads", run)

    def list_names(self, prefix: str) -> list[str]:
        def run() -> list[str]:
            listing = self.minio.list_objects(self.bucket, prefix=prefix, recursive=True)
            return [str(o.object_name) for o in listing]

        return self._call("list_objects", run)

    def delete_objects(self, names: list[str]) -> None:
        if not names:
            return
        if len(names) == 1:
            self._call("remove_object", lambda: self.minio.remove_object(self.bucket, names[0]))
            return

        def run() -> None:
            errors = list(self.minio.remove_objects(self.bucket, [DeleteObject(n) for n in names]))
            failed = [e for e in errors if e.code != "NoSuchKey"]
            if failed:
                reason = RuntimeError(f"{failed[0].code} deleting {failed[0].name}")
                if failed[0].code in TRANSIENT_CODES:
                    raise _Transient(reason)
                raise StorageUnavailable(f"object storage failed remove_objects: {reason}")

        self._call("remove_objects", run)

    def stat(self, name: str) -> tuple[int, str] | None:
        """(size, ETag) of an object, or None if there is none."""

        def run() -> tuple[int, str] | None:
            try:
                info = self.minio.stat_object(self.bucket, name)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return None
                raise
            return int(info.size or 0), str(info.etag or "")

        return self._call("stat_object", run)

    def _exists(self, name: str) -> bool:
        try:
            self.minio.stat_object(self.bucket, name)
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise


def minio_client(
    endpoint: str,
    access_key: str | None,
    secret_key: str | None,
    *,
    region: str | None,
    secure: bool,
    connections: int,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> ChecksumMinio:
    return ChecksumMinio(
        endpoint,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        secure=secure,
        http_client=http_pool(connections, connect_timeout, read_timeout),
    )
