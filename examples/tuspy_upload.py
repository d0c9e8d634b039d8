"""Upload a file to tusportal with tuspy, get interrupted, and resume where the server stopped.

    uv run python examples/tuspy_upload.py [FILE] [--url URL]
    TUS_URL=http://127.0.0.1:8080/files/ python examples/tuspy_upload.py photo.jpg

Without FILE, 3 MiB of random bytes are uploaded. tuspy (`pip install tuspy`) sends the file in
512 KiB PATCH requests. The first uploader stops after two chunks, as if the process had been
killed. A second, fresh uploader finds the upload URL in tuspy's URL storage (keyed by a
fingerprint of the file), asks the server for its offset with HEAD and sends only the rest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import requests
from tusclient import client
from tusclient.storage.filestorage import FileStorage

DEFAULT_URL = "http://127.0.0.1:8080/files/"
CHUNK_SIZE = 512 * 1024
TIMEOUT_SECONDS = 30


def upload_with_interruption(path: Path, url: str, storage_path: Path) -> str:
    tus = client.TusClient(url)
    metadata = {"filename": path.name, "filetype": "application/octet-stream"}

    # A real application keeps the storage file in a stable place, so that a new process
    # (after a crash, a reboot, a lost network) finds the URL of the unfinished upload.
    storage = FileStorage(str(storage_path))
    try:
        first = tus.uploader(
            str(path),
            chunk_size=CHUNK_SIZE,
            metadata=metadata,
            store_url=True,
            url_storage=storage,
        )
        first.upload(stop_at=min(2 * CHUNK_SIZE, path.stat().st_size))
        print(f"upload URL: {first.url}")
        print(f"interrupted at offset {first.offset} of {path.stat().st_size}")
    finally:
        storage.close()

    storage = FileStorage(str(storage_path))
    try:
        # A fresh uploader: with store_url it looks the URL up by the file's fingerprint and
        # asks the server (HEAD) for the offset, instead of creating a new upload.
        second = tus.uploader(
            str(path),
            chunk_size=CHUNK_SIZE,
            metadata=metadata,
            store_url=True,
            url_storage=storage,
        )
        if second.url != first.url:
            raise SystemExit(f"did not resume: new upload {second.url}")
        print(f"resuming at offset {second.offset}")
        second.upload()
        print(f"finished at offset {second.offset}")
        return second.url
    finally:
        storage.close()


def verify(upload_url: str, size: int) -> None:
    response = requests.head(upload_url, headers={"Tus-Resumable": "1.0.0"}, timeout=TIMEOUT_SECONDS)
    response.raise_for_status()
    offset = int(response.headers["Upload-Offset"])
    length = int(response.headers["Upload-Length"])
    if not offset == length == size:
        raise SystemExit(f"incomplete: offset {offset}, length {length}, file {size} bytes")
    print(f"complete: {offset} of {length} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, help="file to upload (default: random)")
    parser.add_argument("--url", default=os.environ.get("TUS_URL", DEFAULT_URL))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "random.bin"
            path.write_bytes(os.urandom(3 * 1024 * 1024))
        upload_url = upload_with_interruption(path, args.url, Path(tmp) / "tus-urls.json")
        verify(upload_url, path.stat().st_size)


if __name__ == "__main__":
    main()
