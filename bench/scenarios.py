# ruff: noqa: ASYNC109 -- every request takes its own explicit deadline
"""The benchmark scenarios, as async functions of (host, port, sizes) returning raw measurements.

Each scenario creates its uploads, times only the part the issue names, verifies the result
cheaply (Upload-Offset in responses, one HEAD at the end) and terminates its uploads with DELETE
so disk use stays flat between rounds. A server answering anything unexpected raises BenchError.
"""

from __future__ import annotations

import asyncio
import math
import time

from httpclient import BenchError, Connection, Payload, Response, path_of

TUS = {"Tus-Resumable": "1.0.0"}


class Window:
    """Told when the timed part of a scenario begins and ends (run.py measures CPU over it)."""

    def begin(self) -> None:
        pass

    def end(self) -> None:
        pass


UNTIMED = Window()  # the default: nobody listens

OCTETS = "application/offset+octet-stream"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def expect(response: Response, status: int, what: str) -> None:
    if response.status != status:
        body = response.body[:300].decode("utf-8", "replace")
        raise BenchError(f"{what}: expected {status}, got {response.status} {body!r}")


async def create(conn: Connection, length: int, payload: Payload | None = None) -> str:
    headers = {**TUS, "Upload-Length": str(length)}
    if payload is not None:
        headers["Content-Type"] = OCTETS
    response = await conn.request("POST", "/files/", headers, payload, timeout=60)
    expect(response, 201, "POST /files/")
    return path_of(response.header("location"))


async def patch(conn: Connection, path: str, offset: int, payload: Payload, timeout: float) -> Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
    response = await conn.request("PATCH", path, headers, payload, timeout=timeout)
    expect(response, 204, f"PATCH {path}")
    new_offset = int(response.header("upload-offset"))
    if new_offset != offset + payload.length:
        raise BenchError(f"PATCH {path}: offset {new_offset}, expected {offset + payload.length}")
    return response


async def verify_and_delete(conn: Connection, path: str, length: int) -> None:
    head = await conn.request("HEAD", path, TUS, timeout=30)
    expect(head, 200, f"HEAD {path}")
    if int(head.header("upload-offset")) != length:
        raise BenchError(f"HEAD {path}: offset {head.header('upload-offset')} != length {length}")
    await delete(conn, path)


async def delete(conn: Connection, path: str) -> None:
    response = await conn.request("DELETE", path, TUS, timeout=60)
    expect(response, 204, f"DELETE {path}")


def transfer_timeout(size: int) -> float:
    """Generous deadline for one body: 60 s plus 20 MB/s worst case."""
    return 60 + size / 20e6


async def single_patch(host: str, port: int, data: memoryview, size: int, window: Window = UNTIMED) -> dict:
    """(a) and the 4 GiB case of (d): create with Upload-Length, then one PATCH of `size` bytes."""
    conn = Connection(host, port)
    try:
        path = await create(conn, size)
        window.begin()
        response = await patch(conn, path, 0, Payload(data, size), transfer_timeout(size))
        window.end()
        await verify_and_delete(conn, path, size)
    finally:
        await conn.close()
    return {"mb_s": size / response.seconds / 1e6, "seconds": response.seconds}


async def chunked_patches(
    host: str, port: int, data: memoryview, size: int, chunk: int, window: Window = UNTIMED
) -> dict:
    """(b): `size` bytes in PATCHes of `chunk` bytes, one keep-alive connection, one at a time."""
    conn = Connection(host, port)
    latencies = []
    try:
        path = await create(conn, size)
        window.begin()
        started = time.perf_counter()
        for offset in range(0, size, chunk):
            n = min(chunk, size - offset)
            response = await patch(conn, path, offset, Payload(data, n), transfer_timeout(n))
            latencies.append(response.seconds)
        elapsed = time.perf_counter() - started
        window.end()
        await verify_and_delete(conn, path, size)
    finally:
        await conn.close()
    return {
        "mb_s": size / elapsed / 1e6,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "max_ms": max(latencies) * 1e3,
    }


async def many_small(
    host: str, port: int, data: memoryview, count: int, size: int, concurrency: int, window: Window = UNTIMED
) -> dict:
    """(c): `count` creation-with-upload POSTs of `size` bytes over `concurrency` keep-alive
    connections (opened before the clock starts)."""
    conns = [Connection(host, port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    latencies: list[float] = []
    paths: list[str] = []
    remaining = iter(range(count))

    async def worker(conn: Connection) -> None:
        for _ in remaining:
            headers = {**TUS, "Upload-Length": str(size), "Content-Type": OCTETS}
            response = await conn.request("POST", "/files/", headers, Payload(data, size), timeout=60)
            expect(response, 201, "POST /files/ with body")
            if int(response.header("upload-offset")) != size:
                raise BenchError(f"POST with body: Upload-Offset {response.header('upload-offset')}")
            latencies.append(response.seconds)
            paths.append(path_of(response.header("location")))

    try:
        window.begin()
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in conns))
        elapsed = time.perf_counter() - started
        window.end()
        if len(paths) != count:
            raise BenchError(f"{len(paths)} of {count} uploads finished")
        pending = iter(paths)

        async def deleter(conn: Connection) -> None:
            for path in pending:
                await delete(conn, path)

        await asyncio.gather(*(deleter(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return {
        "uploads_s": count / elapsed,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }
