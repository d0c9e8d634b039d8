"""The ceiling of the issue's stack for scenario (a): a bare ASGI app under uvicorn (httptools,
uvloop) that answers the tus calls the benchmark makes and throws every body away, with
STACK_HASH=sha256 after feeding it to a running SHA-256 on the event loop, or STACK_HASH=thread on
one other thread (as tusportal's hash lane does). No storage, no database, no locks: what any
server on this stack that hashes every file while streaming can reach at most.

Run by bench/stack_ceiling.py; not part of tusportal.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor

MODE = os.environ.get("STACK_HASH", "")
_THREAD = ThreadPoolExecutor(1) if MODE == "thread" else None
_LENGTHS: dict[bytes, int] = {}


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = dict(scope["headers"])
    hasher = hashlib.sha256() if MODE else None
    last: Future[None] | None = None
    received = 0
    while True:
        message = await receive()
        body = message.get("body", b"")
        received += len(body)
        if body and hasher is not None:
            if _THREAD is not None:
                last = _THREAD.submit(hasher.update, body)
            else:
                hasher.update(body)
        if not message.get("more_body"):
            break
    if last is not None:
        last.result()
    method, path = scope["method"], scope["path"].encode()
    tus = [(b"tus-resumable", b"1.0.0")]
    if method == "POST":
        key = b"/files/" + os.urandom(8).hex().encode()
        _LENGTHS[key] = int(headers.get(b"upload-length", b"0"))
        status, out = 201, [(b"location", key), *tus]
    elif method == "HEAD":
        length = str(_LENGTHS.get(path, 0)).encode()
        status, out = 200, [(b"upload-offset", length), (b"upload-length", length), *tus]
    elif method == "DELETE":
        _LENGTHS.pop(path, None)
        status, out = 204, tus
    elif method == "PATCH":
        offset = int(headers.get(b"upload-offset", b"0")) + received
        status, out = 204, [(b"upload-offset", str(offset).encode()), *tus]
    else:
        status, out = 204, tus
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": b""})
