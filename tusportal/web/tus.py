"""The tus endpoints: OPTIONS, POST, HEAD, PATCH, DELETE, and GET for downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tusportal import protocol
from tusportal.errors import (
    AmbiguousLength,
    BatchNotJoinable,
    InvalidConcat,
    InvalidFinal,
    MethodNotAllowed,
    MissingLength,
    PartialNotFound,
    UnsupportedMediaType,
    UploadNotFound,
)
from tusportal.logging import bind_upload
from tusportal.service import UploadService
from tusportal.state.uploads import Upload
from tusportal.storage.base import Concatenator, RangeReader, Terminator
from tusportal.web.auth import OwnerCache, principal

OFFSET_OCTET_STREAM = "application/offset+octet-stream"

# every header a tus client may need to read, for Access-Control-Expose-Headers
EXPOSED_HEADERS = [
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Upload-Concat",
    "Tus-Version",
    "Tus-Resumable",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "X-Tus-Error",
    "X-Request-ID",
    "ETag",
    "Content-Range",
    "Content-Disposition",
]


@dataclass(frozen=True)
class TusConfig:
    base_path: str  # "/files/"
    public_base_url: str | None
    trust_proxy_headers: bool
    max_size: int
    extensions: tuple[str, ...]
    auth: bool = False  # TUSPORTAL_AUTH=required: every upload has an owner, checked on each request


def extensions_for(store: object) -> tuple[str, ...]:
    """Tus-Extension lists exactly what the store and service support."""
    ext = ["creation", "creation-with-upload", "creation-defer-length", "expiration", "checksum"]
    if isinstance(store, Terminator):
        ext.append("termination")
    if isinstance(store, Concatenator):
        ext += ["concatenation", "concatenation-unfinished"]
    return tuple(ext)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """Body chunks straight from ASGI `receive` (one generator less per chunk than
    `request.stream()`); simply ends when the client disconnects (the service saves what arrived)."""
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # http.disconnect
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class TusEndpoints:
    def __init__(self, service: UploadService, config: TusConfig):
        self.service = service
        self.config = config
        self.base = config.base_path
        self.owners = OwnerCache()

    def routes(self) -> list[Route]:
        collection = self.base.rstrip("/")
        return [
            Route(collection, self.collection, methods=["OPTIONS", "POST"]),
            Route(self.base, self.collection, methods=["OPTIONS", "POST"]),
            Route(
                self.base + "{upload_id}",
                self.resource,
                methods=["OPTIONS", "HEAD", "PATCH", "DELETE", "GET"],
            ),
        ]

    # --- dispatch ------------------------------------------------------------------------

    async def collection(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self.options()
        protocol.check_tus_resumable(request.headers.get("tus-resumable"))
        return await self.create(request)

    async def resource(self, request: Request) -> Response:
        method = request.method
        if method == "OPTIONS":
            return self.options()
        upload_id = request.path_params["upload_id"]
        bind_upload(upload_id)  # every line of this request, in every layer, names the upload
        if self.config.auth and not await self._owned(request, upload_id):
            raise UploadNotFound()  # someone else's upload answers as if it did not exist
        if method == "GET":
            return await self.get(request, upload_id)
        protocol.check_tus_resumable(request.headers.get("tus-resumable"))
        if method == "HEAD":
            return await self.head(upload_id)
        if method == "PATCH":
            return await self.patch(request, upload_id)
        if method == "DELETE":
            if "termination" not in self.config.extensions:
                raise MethodNotAllowed("termination is not supported by this store")
            await self.service.terminate(upload_id)
            return Response(status_code=204)
        raise MethodNotAllowed()

    # --- handlers ------------------------------------------------------------------------

    def options(self) -> Response:
        headers = {
            "Tus-Version": ",".join(protocol.SUPPORTED_VERSIONS),
            "Tus-Extension": ",".join(self.config.extensions),
            "Tus-Checksum-Algorithm": ",".join(protocol.SUPPORTED_ALGORITHMS),
        }
        if self.config.max_size:
            headers["Tus-Max-Size"] = str(self.config.max_size)
        return Response(status_code=204, headers=headers)

    async def create(self, request: Request) -> Response:
        h = request.headers
        concat = protocol.parse_concat(h.get("upload-concat"))
        if concat is not None and "concatenation" not in self.config.extensions:
            raise InvalidConcat("concatenation is not supported by this server's store")
        length_header = h.get("upload-length")
        defer = protocol.parse_defer_length(h.get("upload-defer-length"))
        part_ids: list[str] | None = None
        if isinstance(concat, protocol.Final):
            if length_header is not None or defer:
                raise InvalidFinal("a final upload must not have Upload-Length or Upload-Defer-Length")
            part_ids = []
            for url in concat.urls:
                part_id = protocol.upload_id_from_url(url, self.base)
                if part_id is None:
                    raise InvalidFinal(f"{url!r} is not an upload URL of this server")
                if self.config.auth and not await self._owned(request, part_id):
                    raise PartialNotFound(f"partial upload {part_id!r} does not exist")
                part_ids.append(part_id)
            return await self._created(
                request,
                await self.service.create(
                    length=None,
                    metadata=protocol.parse_metadata(h.get("upload-metadata")),
                    metadata_raw=_raw_metadata(h.get("upload-metadata")),
                    concat=concat,
                    part_ids=part_ids,
                    owner_id=await self._new_owner(request, concat, h.get("upload-metadata")),
                ),
                with_offset=False,
            )
        if length_header is not None and defer:
            raise AmbiguousLength()
        if length_header is None and not defer:
            raise MissingLength()
        length = protocol.parse_length(length_header) if length_header is not None else None
        metadata_raw = h.get("upload-metadata")
        metadata = protocol.parse_metadata(metadata_raw)
        content_length = protocol.parse_content_length(h.get("content-length"))
        has_body = _media_type(request) == OFFSET_OCTET_STREAM and (
            (content_length is None and "chunked" in h.get("transfer-encoding", "").lower())
            or bool(content_length)
        )
        checksum = protocol.parse_checksum(h.get("upload-checksum")) if has_body else None
        upload = await self.service.create(
            length=length,
            metadata=metadata,
            metadata_raw=_raw_metadata(metadata_raw),
            body=_body(request) if has_body else None,
            content_length=content_length if has_body else None,
            checksum=checksum,
            concat=concat,
            owner_id=await self._new_owner(request, concat, metadata_raw),
        )
        return await self._created(request, upload, with_offset=has_body)

    async def _created(self, request: Request, upload: Upload, *, with_offset: bool) -> Response:
        headers = {"Location": self.location(request, upload.id)}
        if with_offset:
            headers["Upload-Offset"] = str(upload.offset)
        self._expires(upload, headers)
        return Response(status_code=201, headers=headers)

    async def head(self, upload_id: str) -> Response:
        upload = await self.service.head(upload_id)
        headers = {"Cache-Control": "no-store"}
        if upload.concat_kind == "final":
            parts = " ".join(self.base + part for part in upload.concat_parts or [])
            headers["Upload-Concat"] = "final;" + parts
            if upload.finished:  # an unfinished final has no offset of its own
                headers["Upload-Offset"] = str(upload.offset)
        else:
            headers["Upload-Offset"] = str(upload.offset)
            if upload.concat_kind == "partial":
                headers["Upload-Concat"] = "partial"
        if upload.length is not None:
            headers["Upload-Length"] = str(upload.length)
        else:
            headers["Upload-Defer-Length"] = "1"
        if upload.metadata_raw:
            headers["Upload-Metadata"] = upload.metadata_raw
        self._expires(upload, headers)
        return Response(status_code=200, headers=headers)

    async def patch(self, request: Request, upload_id: str) -> Response:
        h = request.headers
        if _media_type(request) != OFFSET_OCTET_STREAM:
            raise UnsupportedMediaType()
        offset = protocol.parse_offset(h.get("upload-offset"))
        declared = h.get("upload-length")
        declared_length = protocol.parse_length(declared) if declared is not None else None
        content_length = protocol.parse_content_length(h.get("content-length"))
        checksum = protocol.parse_checksum(h.get("upload-checksum"))
        upload = await self.service.append(
            upload_id,
            offset=offset,
            body=_body(request),
            content_length=content_length,
            checksum=checksum,
            declared_length=declared_length,
        )
        headers = {"Upload-Offset": str(upload.offset)}
        self._expires(upload, headers)
        return Response(status_code=204, headers=headers)

    async def get(self, request: Request, upload_id: str) -> Response:
        upload = await self.service.download(upload_id)
        store = self.service.store
        if not isinstance(store, RangeReader):
            raise UploadNotFound("downloads are not supported by this store")
        size = upload.length or 0
        etag = f'"{upload.id}-{size}"'
        filename, content_type = protocol.filename_and_type(
            {k: v.encode() if v is not None else None for k, v in upload.metadata.items()}
        )
        media = protocol.safe_content_type(content_type)
        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": protocol.content_disposition(filename, protocol.disposition_for(media)),
        }
        inm = request.headers.get("if-none-match")
        if inm is not None and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
            return Response(status_code=304, headers=headers)
        status = 200
        start, end = 0, size - 1
        byte_range = protocol.parse_range(request.headers.get("range"), size) if size else None
        if_range = request.headers.get("if-range")
        if byte_range is not None and (if_range is None or if_range.strip() == etag):
            start, end = byte_range
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1 if size else 0)
        body = store.read(upload.storage_key, start, end, upload.storage_state) if size else _empty()
        return StreamingResponse(body, status_code=status, headers=headers, media_type=media)

    # --- authorization (only with TUSPORTAL_AUTH=required) -------------------------------

    async def _owned(self, request: Request, upload_id: str) -> bool:
        """May the caller see this upload? Unknown ids answer False, like someone else's."""
        who = principal(request)
        if who is None or who.is_admin:
            return True
        known, owner = self.owners.get(upload_id)
        if not known:
            upload = await self.service.uploads.get(upload_id)
            if upload is None:
                return False
            owner = upload.owner_id
            self.owners.put(upload_id, owner)
        return owner is not None and owner == who.user_id

    async def _new_owner(
        self, request: Request, concat: protocol.Partial | protocol.Final | None, metadata_raw: str | None
    ) -> str | None:
        """The owner of a new upload; a file may only join a batch its owner can see."""
        who = principal(request)
        if who is None:
            return None
        batches = self.service.batches
        if not who.is_admin and batches is not None and not isinstance(concat, protocol.Partial):
            batch_id = protocol.metadata_text(protocol.parse_metadata(metadata_raw)).get("batch")
            if batch_id is not None:
                batch = await batches.batches.get(batch_id)
                if batch is not None and batch.owner_id != who.user_id:
                    raise BatchNotJoinable(f"unknown batch {batch_id!r}")  # as for an unknown id
        return who.user_id

    # --- helpers -------------------------------------------------------------------------

    def _expires(self, upload: Upload, headers: dict[str, str]) -> None:
        if upload.state == "active" and upload.expires_at is not None:
            headers["Upload-Expires"] = protocol.format_http_date(upload.expires_at)

    def location(self, request: Request, upload_id: str) -> str:
        path = self.base + upload_id
        if self.config.public_base_url:
            return self.config.public_base_url.rstrip("/") + path
        scheme = request.url.scheme
        host = request.headers.get("host") or "localhost"
        if self.config.trust_proxy_headers:
            scheme, host = _forwarded(request, scheme, host)
        return f"{scheme}://{host}{path}"


def _raw_metadata(value: str | None) -> str | None:
    return value if value and value.strip() else None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


def _forwarded(request: Request, scheme: str, host: str) -> tuple[str, str]:
    """RFC 7239 Forwarded wins over X-Forwarded-*; only the first (client-most) element counts."""
    forwarded = request.headers.get("forwarded")
    if forwarded:
        first = forwarded.split(",", 1)[0]
        for part in first.split(";"):
            name, _, value = part.strip().partition("=")
            value = value.strip().strip('"')
            if name.lower() == "proto" and value.lower() in ("http", "https"):
                scheme = value.lower()
            elif name.lower() == "host" and _safe_host(value):
                host = value
        return scheme, host
    proto = request.headers.get("x-forwarded-proto", "").split(",", 1)[0].strip().lower()
    if proto in ("http", "https"):
        scheme = proto
    xhost = request.headers.get("x-forwarded-host", "").split(",", 1)[0].strip()
    if xhost and _safe_host(xhost):
        host = xhost
    return scheme, host


def _safe_host(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in ".-:[]_" for c in value)
