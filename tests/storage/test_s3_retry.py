"""Transient S3 failures are retried inside one call; lasting ones become clean errors; after an
outage an upload resumes from its persisted state.

The unit tests put a fake in place of minio (to script failures precisely); the outage test runs
the real store against the real S3 server through a TCP proxy that the test can cut."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import urllib3
from minio.error import S3Error, ServerError
from structlog.testing import capture_logs

from tusportal.errors import StorageUnavailable
from tusportal.storage.s3 import RetryPolicy, S3Store, StorageMisconfigured
from tusportal.storage.s3.client import MultipartUploadMissing, S3Client

FAST = RetryPolicy(attempts=4, max_seconds=5, initial_wait=0.001, max_wait=0.01)


def s3_error(code: str) -> S3Error:
    return S3Error(None, code, f"{code} (scripted)", "/bucket/key", "req", "host")  # type: ignore[arg-type]


class FlakyMinio:
    """Fails `_upload_part` with the scripted errors, then succeeds."""

    def __init__(self, failures: list[BaseException]):
        self.failures = list(failures)
        self.calls = 0

    def _upload_part(self, *args: Any) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "etag-1"


@pytest.mark.parametrize(
    "failure",
    [
        s3_error("SlowDown"),
        s3_error("InternalError"),
        s3_error("RequestTimeout"),
        ServerError("bad gateway", 502),
        urllib3.exceptions.ProtocolError("connection reset"),
        urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError(),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(getattr(e, "code", "")),
)
def test_transient_failures_are_retried_within_one_call(failure: BaseException) -> None:
    fake = FlakyMinio([failure, failure])
    client = S3Client(fake, "bucket", FAST)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert client.upload_part("key", "upload", 1, b"data") == "etag-1"
    assert fake.calls == 3
    assert [e["event"] for e in logs] == ["s3_retry", "s3_retry"]


def test_lasting_failure_becomes_storage_unavailable() -> None:
    fake = FlakyMinio([s3_error("ServiceUnavailable")] * 10)
    client = S3Client(fake, "bucket", FAST)  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailable) as raised:
        client.upload_part("key", "upload", 1, b"data")
    assert raised.value.status == 503
    assert fake.calls == FAST.attempts


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDenied", StorageMisconfigured),
        ("NoSuchBucket", StorageMisconfigured),
        ("NoSuchUpload", MultipartUploadMissing),
        ("EntityTooSmall", StorageUnavailable),
    ],
)
def test_permanent_failures_are_not_retried(code: str, error: type[Exception]) -> None:
    fake = FlakyMinio([s3_error(code)])
    client = S3Client(fake, "bucket", FAST)  # type: ignore[arg-type]
    with pytest.raises(error):
        client.upload_part("key", "upload", 1, b"data")
    assert fake.calls == 1


class CompletingMinio:
    """The first CompleteMultipartUpload succeeds but its answer is lost; the retry finds the
    upload gone and the object there."""

    def __init__(self) -> None:
        self.calls = 0

    def _complete_multipart_upload(self, *args: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise urllib3.exceptions.ProtocolError("connection reset after the server completed")
        raise s3_error("NoSuchUpload")

    def stat_object(self, *args: Any) -> object:
        return object()


def test_complete_retried_after_a_lost_answer_succeeds() -> None:
    fake = CompletingMinio()
    client = S3Client(fake, "bucket", FAST)  # type: ignore[arg-type]
    client.complete_multipart_upload("key", "upload", [(1, "etag")])
    assert fake.calls == 2


# --- a real outage, through a proxy the test can cut -----------------------------------------


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.up = True
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.up = False
        for writer in list(self.connections):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        self.connections.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort() if not self.up else dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.connections.discard(writer)
        self.connections.discard(up_writer)

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def proxy(s3_server) -> AsyncIterator[CuttableProxy]:
    host, port = s3_server.endpoint.split(":")
    p = CuttableProxy(host, int(port))
    await p.start()
    yield p
    await p.stop()


async def _append(store: S3Store, key: str, offset: int, data: bytes, state: Any) -> tuple[int, Any]:
    writer = store.writer(key, offset, None, state)
    try:
        for i in range(0, len(data), 256 * 1024):
            await writer.write(data[i : i + 256 * 1024])
        return await writer.flush(), writer.state
    finally:
        with contextlib.suppress(Exception):
            await writer.close()


async def test_outage_gives_a_clean_error_and_the_upload_resumes_after(s3_server, s3_bucket, proxy) -> None:
    fast = RetryPolicy(attempts=3, max_seconds=3, initial_wait=0.05, max_wait=0.2)
    make: Callable[[], S3Store] = lambda: S3Store(  # noqa: E731
        s3_server.config(
            s3_bucket, endpoint=f"127.0.0.1:{proxy.port}", part_size=5 << 20, retry=fast, read_timeout=5
        )
    )
    store = make()
    data = os.urandom(12 << 20)
    try:
        offset, state = await _append(store, "o1", 0, data[: 6 << 20], None)
        assert offset == 6 << 20
        proxy.cut()
        writer = store.writer("o1", offset, None, state)
        with pytest.raises(StorageUnavailable):
            for i in range(offset, len(data), 256 * 1024):
                await writer.write(data[i : i + 256 * 1024])
            await writer.flush()
        with contextlib.suppress(StorageUnavailable):
            await writer.close()
        # what the broken writer reports is consistent with what S3 holds
        offset += writer.written
        state = writer.state
        assert await store.size("o1", state) == offset
        proxy.up = True
        more, state = await _append(store, "o1", offset, data[offset:], state)
        assert offset + more == len(data)
        state = await store.make_durable("o1", state)
        out = bytearray()
        async for chunk in store.read("o1", 0, len(data) - 1, state):
            out += chunk
        assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()
    finally:
        store.close()
