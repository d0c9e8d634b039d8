"""Scenario (a) against the bare stack: how fast can any server built on uvicorn (httptools,
uvloop) that hashes every file while it streams take one 1 GiB PATCH here, next to the peer?

    uv run python bench/stack_ceiling.py [--rounds 5] [--size-mib 1024]

Servers, started once and measured interleaved (A B C ..., then the reverse):
- `stack`: bench/stack_app.py, bodies thrown away, nothing hashed (the receive path alone);
- `stack-sha256`: the same, each body fed to a running SHA-256 on the event loop;
- `stack-sha256-thread`: the same, the SHA-256 fed on one other thread;
- `tusportal` and the peer on Node 24 and on Node 20 (as in bench/run.py).

It prints MB/s (median, min-max) and each row as a ratio to both peers, beside the issue's (a)
target of 2.0x. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import scenarios
from servers import ROOT, Server, clean_env, free_port, make_servers

STACK = {"stack": "", "stack-sha256": "sha256", "stack-sha256-thread": "thread"}


def stack_server(name: str, workdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "stack_app:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--log-level", "warning", "--no-access-log"]
    return Server(
        name,
        argv,
        {**clean_env(), "STACK_HASH": STACK[name]},
        workdir / name,
        workdir / f"{name}.log",
        port,
        ready_method="OPTIONS",
        ready_path="/files/",
    )


async def measure(servers: list[Server], rounds: int, size: int) -> dict[str, list[float]]:
    data = memoryview(os.urandom(64 << 20))
    results: dict[str, list[float]] = {s.name: [] for s in servers}
    for server in servers:  # untimed warm-up
        await scenarios.single_patch("127.0.0.1", server.port, data, 32 << 20)
    for r in range(rounds):
        for server in servers if r % 2 == 0 else servers[::-1]:
            await asyncio.to_thread(os.sync)
            await asyncio.sleep(0.5)
            result = await scenarios.single_patch("127.0.0.1", server.port, data, size)
            results[server.name].append(result["mb_s"])
            print(f"[round {r + 1}/{rounds}] {server.name}: {result['mb_s']:.0f} MB/s", file=sys.stderr)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tusportal-stack-"))
    servers = [stack_server(name, workdir) for name in STACK]
    servers += make_servers(["tusportal", "peer", "peer-node20"], workdir)
    try:
        for server in servers:
            server.start()
        results = asyncio.run(measure(servers, args.rounds, args.size_mib << 20))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    med = {name: statistics.median(xs) for name, xs in results.items()}
    print(f"(a) one PATCH of {args.size_mib} MiB, {args.rounds} interleaved rounds (MB/s)\n")
    print("| server | MB/s median (min-max) | / peer (Node 24) | / peer-node20 | (a) target |")
    print("|---|---|---|---|---|")
    for name, xs in results.items():
        cells = f"{med[name]:.0f} ({min(xs):.0f}-{max(xs):.0f})"
        ratios = f"{med[name] / med['peer']:.2f}x | {med[name] / med['peer-node20']:.2f}x"
        print(f"| {name} | {cells} | {ratios} | ≥ 2.0x |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
