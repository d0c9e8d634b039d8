"""Payload checksums on a real S3 server (SeaweedFS): bodies go with their CRC-32 and an unsigned
payload, S3 checks it (a wrong one is refused), multipart uploads keep each part's CRC-32 for
CompleteMultipartUpload, and uploads begun under one setting finish under the other."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from minio import Minio
from s3_support import append

from tusportal.errors import StorageUnavailable
from tusportal.storage.s3 import S3Store
from tusportal.storage.s3.client import (
    CRC32_HEADER,
    ChecksumMinio,
    RetryPolicy,
    S3Client,
    crc32_checksum,
)
from tusportal.storage.s3.layout import Layout, Part
from tusportal.storage.s3.sizing import MIB

PART = 5 * MIB
FAST = RetryPolicy(attempts=2, max_seconds=5, initial_wait=0.01, max_wait=0.01)


def test_crc32_checksum_is_the_big_endian_crc_in_base64() -> None:
    data = b"tusportal"
    assert crc32_checksum(data) == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert crc32_checksum(b"") == "AAAAAA=="


def test_a_body_with_a_crc_is_sent_unsigned_and_without_content_md5() -> None:
    minio = ChecksumMinio("127.0.0.1:9", access_key="a", secret_key="b", secure=True, region="r")
    creds = minio._provider.retrieve() if minio._provider else None
    body = os.urandom(1000)
    headers, _ = minio._build_headers("h", {CRC32_HEADER: crc32_checksum(body)}, body, creds)
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["Content-Length"] == "1000"
    assert "Content-MD5" not in headers
    # without a CRC, minio decides as it always did (over HTTPS: unsigned with Content-MD5)
    plain, _ = minio._build_headers("h", {}, body, creds)
    assert plain["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert plain["Content-MD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
    http = ChecksumMinio("127.0.0.1:9", access_key="a", secret_key="b", secure=False, region="r")
    signed, _ = http._build_headers("h", {}, body, creds)
    assert signed["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()


def test_layout_keeps_the_upload_checksum_and_each_part_crc_and_reads_old_states() -> None:
    layout = Layout(object="o", upload_id="u", checksum="crc32", parts=[Part(1, "e", PART, "AAAAAA==")])
    state = layout.to_state()
    assert state["checksum"] == "crc32" and state["parts"] == [[1, "e", PART, "AAAAAA=="]]
    assert Layout.from_state(state, "o") == layout
    old = {"v": 1, "object": "o", "upload_id": "u", "parts": [[1, "e", PART]]}
    parsed = Layout.from_state(old, "o")
    assert parsed.checksum is None and parsed.parts == [Part(1, "e", PART)]
    assert parsed.to_state() == old


def s3_client(s3_server, bucket: str, *, crc32: bool) -> S3Client:
    return S3Client(s3_server.store_minio(bucket), bucket, FAST, crc32=crc32)


def test_s3_refuses_a_body_whose_crc_does_not_match(s3_server, s3_bucket) -> None:
    """The CRC we send is the one S3 checks: a wrong one is refused, for objects and parts."""
    client = s3_client(s3_server, s3_bucket, crc32=True)
    data = os.urandom(PART)
    upload_id = client.create_multipart_upload("m", None, crc32=True)
    with pytest.raises(StorageUnavailable):
        client.upload_part("m", upload_id, 1, data, crc32_checksum(data + b"x"))
    etag = client.upload_part("m", upload_id, 1, data, crc32_checksum(data))
    client.complete_multipart_upload("m", upload_id, [(1, etag, crc32_checksum(data))])
    assert s3_server.minio().get_object(s3_bucket, "m").read() == data

    class WrongCrc(ChecksumMinio):
        def _build_headers(self, host, headers=None, body=None, creds=None):  # type: ignore[no-untyped-def]
            if headers and CRC32_HEADER in headers:
                headers[CRC32_HEADER] = crc32_checksum(b"something else")
            return super()._build_headers(host, headers, body, creds)

    wrong = s3_client(s3_server, s3_bucket, crc32=True)
    wrong.minio.__class__ = WrongCrc
    with pytest.raises(StorageUnavailable):
        wrong.put_object("o", data)
    assert "o" not in s3_server.objects(s3_bucket)


def test_completion_of_a_crc32_upload_needs_every_part_crc(s3_server, s3_bucket) -> None:
    client = s3_client(s3_server, s3_bucket, crc32=True)
    data = os.urandom(PART)
    upload_id = client.create_multipart_upload("n", None, crc32=True)
    etag = client.upload_part("n", upload_id, 1, data, crc32_checksum(data))
    with pytest.raises(StorageUnavailable):
        client.complete_multipart_upload("n", upload_id, [(1, etag, None)])
    client.complete_multipart_upload("n", upload_id, [(1, etag, crc32_checksum(data))])
    assert s3_server.minio().get_object(s3_bucket, "n").read() == data


@pytest.mark.parametrize(("first", "then"), [("crc32", "legacy"), ("legacy", "crc32"), ("crc32", "crc32")])
async def test_an_upload_begun_under_one_setting_finishes_under_the_other(
    s3_server, s3_bucket, first: str, then: str
) -> None:
    """An instance upgraded (or configured) to another setting continues uploads it finds: the
    multipart upload's own algorithm decides what its parts carry."""
    stores = [
        S3Store(s3_server.config(s3_bucket, prefix="up", part_size=PART, payload_checksum=setting))
        for setting in (first, then)
    ]
    try:
        data = os.urandom(2 * PART + 12345)
        _, state = await append(stores[0], "k", 0, data[: PART + 1000], None)
        assert state is not None
        layout = Layout.from_state(state, "up/k")
        assert layout.checksum == ("crc32" if first == "crc32" else None)
        assert all((p.checksum is not None) == (first == "crc32") for p in layout.parts)
        assert layout.parts
        _, state = await append(stores[1], "k", PART + 1000, data[PART + 1000 :], state)
        layout = Layout.from_state(state, "up/k")
        assert all((p.checksum is not None) == (first == "crc32") for p in layout.parts)
        state = await stores[1].make_durable("k", state)
        assert s3_server.minio().get_object(s3_bucket, "up/k").read() == data
        assert s3_server.multipart_uploads(s3_bucket) == []
    finally:
        for store in stores:
            store.close()


def test_a_plain_minio_client_still_sends_the_crc(s3_server, s3_bucket) -> None:
    """S3Client with minio's own class (tests, other callers): the CRC goes along with the signed
    payload hash, and S3 checks both."""
    config = s3_server.config(s3_bucket)
    minio = Minio(
        config.endpoint,
        access_key=config.access_key,
        secret_key=config.secret_key,
        secure=False,
        region=config.region,
    )
    client = S3Client(minio, s3_bucket, FAST, crc32=True)
    client.put_object("p", b"abc")
    assert s3_server.minio().get_object(s3_bucket, "p").read() == b"abc"


# --- a provider that does not know the checksum headers -------------------------------------------

REFUSAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
    b"<Message>Unsupported header 'x-amz-checksum-crc32' received for this API call.</Message>"
    b"</Error>"
)


class RefusingProxy:
    """An S3 endpoint that answers like Backblaze B2 (400 InvalidArgument "Unsupported header") to
    any request carrying an `x-amz-checksum-*` header, and passes every other request to the real
    S3 server unchanged (the Host header too, so the signatures still hold)."""

    def __init__(self, upstream: str):
        import http.server
        import threading

        import urllib3

        pool = urllib3.PoolManager(retries=False)
        self.refused: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if any(k.lower().startswith("x-amz-checksum") for k in self.headers):
                    proxy.refused.append(f"{self.command} {self.path}")
                    self.send_response(400)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(REFUSAL)))
                    self.end_headers()
                    self.wfile.write(REFUSAL)
                    return
                response = pool.request(
                    self.command,
                    f"http://{upstream}{self.path}",
                    body=body or None,
                    headers=dict(self.headers),
                    redirect=False,
                )
                self.send_response(response.status)
                for key, value in response.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_provider_refusing_checksum_headers_gets_none_from_then_on(s3_server, s3_bucket) -> None:
    """The first refusal (here of CreateMultipartUpload's algorithm) switches the client to
    minio's own payload signing for good; uploads and small objects still land whole."""
    proxy = RefusingProxy(s3_server.endpoint)
    store = S3Store(s3_server.config(s3_bucket, endpoint=proxy.endpoint, prefix="up", part_size=PART))
    try:
        assert store.client.crc32
        data = os.urandom(2 * PART + 777)
        _, state = await append(store, "big", 0, data, None)
        layout = Layout.from_state(state, "up/big")
        assert layout.upload_id and layout.checksum is None
        assert layout.parts and all(p.checksum is None for p in layout.parts)
        assert not store.client.crc32
        assert len(proxy.refused) == 1 and "uploads" in proxy.refused[0]
        state = await store.make_durable("big", state)
        assert s3_server.minio().get_object(s3_bucket, "up/big").read() == data
        small = os.urandom(1000)
        state = store.describe("small", None, length=len(small))
        _, state = await append(store, "small", 0, small, state)
        await store.make_durable("small", state)
        assert s3_server.minio().get_object(s3_bucket, "up/small").read() == small
        assert len(proxy.refused) == 1  # nothing carried a checksum header again
    finally:
        store.close()
        proxy.close()


def test_a_put_refused_for_its_crc_is_sent_again_without(s3_server, s3_bucket) -> None:
    proxy = RefusingProxy(s3_server.endpoint)
    try:
        client = s3_client(s3_server, s3_bucket, crc32=True)
        client.minio = ChecksumMinio(
            proxy.endpoint,
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
            secure=False,
            region=s3_server.region,
        )
        client.put_object("o", b"abc")
        assert proxy.refused == [f"PUT /{s3_bucket}/o"]
        assert not client.crc32
        assert s3_server.minio().get_object(s3_bucket, "o").read() == b"abc"
    finally:
        proxy.close()
