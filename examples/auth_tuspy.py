"""Upload a file with tuspy to a tusportal that requires API tokens (TUSPORTAL_AUTH=required).

    tusportal user create me@example.com < password.txt
    export TUSPORTAL_TOKEN=$(tusportal token create --user me@example.com --name laptop | tail -n1)
    uv run python examples/auth_tuspy.py [FILE] [--url URL]

The token goes in tuspy's `headers` option, so every request — the POST that creates the upload,
each PATCH, and the HEAD a resumed uploader sends — carries `Authorization: Bearer <token>`.
Without it the server answers 401; with another user's token, the upload does not exist (404).
Without FILE, 2 MiB of random bytes are uploaded; the first uploader stops half-way and a fresh one
resumes from the server's offset.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import requests
from tusclient import client

DEFAULT_URL = "http://127.0.0.1:8080/files/"
CHUNK_SIZE = 512 * 1024
TIMEOUT_SECONDS = 30


def upload(path: Path, url: str, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    tus = client.TusClient(url, headers=auth)
    metadata = {"filename": path.name, "filetype": "application/octet-stream"}
    size = path.stat().st_size

    first = tus.uploader(str(path), chunk_size=CHUNK_SIZE, metadata=metadata)
    first.upload(stop_at=min(CHUNK_SIZE * 2, size))
    print(f"upload URL: {first.url}")
    print(f"interrupted at offset {first.offset} of {size}")

    # a fresh uploader given the URL asks the server (HEAD, with the token) where to go on
    second = tus.uploader(str(path), url=first.url, chunk_size=CHUNK_SIZE, metadata=metadata)
    print(f"resuming at offset {second.offset}")
    second.upload()

    head = requests.head(first.url, headers={"Tus-Resumable": "1.0.0", **auth}, timeout=TIMEOUT_SECONDS)
    head.raise_for_status()
    offset, length = int(head.headers["Upload-Offset"]), int(head.headers["Upload-Length"])
    if not offset == length == size:
        raise SystemExit(f"incomplete: offset {offset}, length {length}, file {size} bytes")
    print(f"complete: {offset} of {length} bytes")
    return str(first.url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, help="file to upload (default: random)")
    parser.add_argument("--url", default=os.environ.get("TUS_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("TUSPORTAL_TOKEN"), help="or TUSPORTAL_TOKEN")
    args = parser.parse_args()
    if not args.token:
        raise SystemExit("an API token is needed: --token or TUSPORTAL_TOKEN (see `tusportal token create`)")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "random.bin"
            path.write_bytes(os.urandom(2 * 1024 * 1024))
        upload(path, args.url, args.token)


if __name__ == "__main__":
    main()
