"""Upload several files as one batch with tuspy: the batch id travels in Upload-Metadata.

    uv run python examples/batch_tuspy.py [FILE ...] [--url http://127.0.0.1:8080/files/]

Creates a batch through the JSON API, uploads each file with metadata {"batch": <id>} (no custom
client code: tuspy sends metadata as is), seals the batch, and waits until it is completed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
from tusclient import client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--url", default=os.environ.get("TUS_URL", "http://127.0.0.1:8080/files/"))
    args = parser.parse_args()
    api = urljoin(args.url, "/api/batches")

    batch = httpx.post(api, json={"name": "tuspy example", "metadata": {"source": "tuspy"}}).json()
    print(f"batch: {batch['id']}")
    tus = client.TusClient(args.url)
    sources = [(p, io.BytesIO(Path(p).read_bytes())) for p in args.files] or [
        (f"random-{i}.bin", io.BytesIO(os.urandom(300_000 + i))) for i in range(3)
    ]
    for name, stream in sources:
        uploader = tus.uploader(
            file_stream=stream,
            chunk_size=128 * 1024,
            metadata={"filename": os.path.basename(name), "batch": batch["id"]},
        )
        uploader.upload()
        print(f"uploaded {name}: {uploader.url}")

    httpx.post(f"{api}/{batch['id']}/seal").raise_for_status()
    deadline = time.monotonic() + 30
    while True:
        doc = httpx.get(f"{api}/{batch['id']}").json()
        print(
            f"batch {doc['state']}: {doc['files_completed']}/{doc['files_total']} files, "
            f"{doc['bytes_received']}/{doc['bytes_total']} bytes"
        )
        if doc["state"] == "completed":
            return 0
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
