# ruff: noqa: RUF001 -- the report's multiplication sign and en dash are on purpose
"""tusportal vs @tus/server benchmark: `uv run python bench/run.py [--quick] [--rounds N] ...`.

Starts every server on loopback with its own data dir under one temp dir, runs the scenarios with
the servers interleaved round by round, prints one side-by-side table and stops every server it
started, also on Ctrl-C, SIGTERM or an exception. See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import report
import scenarios
import uvloop
from httpclient import BenchError
from servers import RssSampler, Server, make_servers, node20_binary, node_binary

ALL_SERVERS = ["tusportal", "tusportal-fsync", "peer", "peer-node20", "ceiling"]
# Which servers run each scenario; the order of scenarios is the order they run in.
PLAN = {
    "a": ["tusportal", "tusportal-fsync", "peer", "peer-node20", "ceiling"],
    "d": ["tusportal", "peer", "peer-node20"],
    "b": ["tusportal", "tusportal-fsync", "peer", "peer-node20", "ceiling"],
    "c": ["tusportal", "peer", "peer-node20", "ceiling"],
}
MIB, GIB = 1 << 20, 1 << 30
FULL = {
    "a": {"size": GIB},
    "b": {"size": 256 * MIB, "chunk": MIB},
    "c": {"count": 1000, "size": 64 * 1024, "concurrency": 50},
    "d": {"size": 4 * GIB},
}
QUICK = {
    "a": {"size": 64 * MIB},
    "b": {"size": 32 * MIB, "chunk": MIB},
    "c": {"count": 200, "size": 64 * 1024, "concurrency": 50},
    "d": {"size": 256 * MIB},
}
BUFFER_SIZE = 16 * MIB  # random bytes generated once; every body is sliced from it
RSS_SCENARIOS = {"a", "d"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    parser.add_argument("--only", default="a,b,c,d", help="scenarios to run, e.g. a,c")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--servers",
        default=",".join(ALL_SERVERS),
        help=f"servers to start (default {','.join(ALL_SERVERS)})",
    )
    parser.add_argument("--json", type=Path, help="also save raw results and the table here")
    parser.add_argument("--tmp-dir", type=Path, help="parent of the servers' data dirs")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run wait up to this many seconds until other processes use < 0.25 CPU "
        "(0: don't wait; default 30)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep server logs and data dirs")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for name in args.only:
        if name not in PLAN:
            parser.error(f"unknown scenario {name!r}; choose from a,b,c,d")
    for name in args.servers:
        if name not in ALL_SERVERS:
            parser.error(f"unknown server {name!r}; choose from {','.join(ALL_SERVERS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_disk(path: Path, needed: int) -> None:
    free = shutil.disk_usage(path).free
    if free < needed + 4 * GIB:
        raise BenchError(f"only {free / GIB:.1f} GiB free under {path}; need {needed / GIB:.1f} + 4")


def client_cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent not idle (steal included: a neighbour took it)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def our_cpu_seconds(servers: list[Server]) -> float:
    return client_cpu_seconds() + sum(sum(s.cpu_seconds()) for s in servers)


async def wait_until_quiet(servers: list[Server], max_wait: float, threshold: float = 0.25) -> float:
    """Wait (at most max_wait s) for half a second in which processes that are not ours use less
    than `threshold` CPUs; returns the CPUs they used in the last half second measured."""
    deadline = time.monotonic() + max_wait
    while True:
        busy, ours = busy_cpu_seconds(), our_cpu_seconds(servers)
        await asyncio.sleep(0.5)
        others = (busy_cpu_seconds() - busy - (our_cpu_seconds(servers) - ours)) / 0.5
        if others < threshold or time.monotonic() >= deadline:
            return max(others, 0.0)


class CpuWindow(scenarios.Window):
    """CPU seconds used during the timed part of one run: by the server under test (and its
    PostgreSQL), by this client, and by every process on the machine that is not ours."""

    def __init__(self, server: Server, servers: list[Server]) -> None:
        self.server, self.servers = server, servers
        self.result: dict[str, float] = {}

    def _snapshot(self) -> tuple[tuple[float, float], float, float, float]:
        return (self.server.cpu_seconds(), client_cpu_seconds(), busy_cpu_seconds(),
                our_cpu_seconds(self.servers))  # fmt: skip

    def begin(self) -> None:
        self._before = self._snapshot()

    def end(self) -> None:
        (own0, pg0), client0, busy0, ours0 = self._before
        (own1, pg1), client1, busy1, ours1 = self._snapshot()
        self.result = {"server_cpu_s": own1 - own0, "client_cpu_s": client1 - client0}
        if self.server.rss_excludes:
            self.result["postgres_cpu_s"] = pg1 - pg0
        self.result["others_cpu_s"] = max(0.0, (busy1 - busy0) - (ours1 - ours0))


async def run_once(
    scenario: str, port: int, sizes: dict, data: memoryview, window: scenarios.Window = scenarios.UNTIMED
) -> dict:
    host = "127.0.0.1"
    s = sizes[scenario]
    if scenario in ("a", "d"):
        return await scenarios.single_patch(host, port, data, s["size"], window)
    if scenario == "b":
        return await scenarios.chunked_patches(host, port, data, s["size"], s["chunk"], window)
    return await scenarios.many_small(host, port, data, s["count"], s["size"], s["concurrency"], window)


def disk_ceiling(workdir: Path, data: memoryview, size: int) -> dict:
    """What the disk under the data dirs gives a plain loop: `size` bytes in 8 MiB writes, then one
    fsync, as tusportal must do before it commits a completed upload (the peer never fsyncs). No
    server can complete a durable upload faster than this."""
    path = workdir / "disk-ceiling.bin"
    step = 8 * MIB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        started = time.perf_counter()
        for offset in range(0, size, step):
            n = min(step, size - offset)
            os.pwrite(fd, data[offset % len(data) : offset % len(data) + n], offset)
        os.fsync(fd)
        seconds = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return {"mb_s": size / seconds / 1e6, "seconds": seconds}


def disk_line(disk: list[dict], a_results: dict[str, list[dict]]) -> str:
    speeds = [r["mb_s"] for r in disk]
    median = statistics.median(speeds)
    line = (
        f"Disk ceiling for (a), a plain loop writing and fsyncing the same size in the same rounds:"
        f" {median:.0f} MB/s ({min(speeds):.0f}–{max(speeds):.0f})"
    )
    for peer in ("peer", "peer-node20"):
        runs = a_results.get(peer)
        if runs:
            ratio = median / statistics.median(r["mb_s"] for r in runs)
            line += f"; {ratio:.2f}× {peer}'s (a)"
    return line + " (the most a server that fsyncs a completed upload can reach, against one that does not)"


async def warm_up(server: Server, data: memoryview) -> None:
    host, port = "127.0.0.1", server.port
    await scenarios.single_patch(host, port, data, 32 * MIB)
    await scenarios.chunked_patches(host, port, data, 8 * MIB, MIB)
    await scenarios.many_small(host, port, data, 100, 64 * 1024, 10)


async def benchmark(args, servers: list[Server], sizes: dict, workdir: Path) -> dict:
    data = memoryview(os.urandom(BUFFER_SIZE))
    for server in servers:
        log(f"warm-up {server.name}")
        await warm_up(server, data)
    by_name = {s.name: s for s in servers}
    results: dict[str, dict[str, list[dict]]] = {}
    for scenario in (k for k in PLAN if k in args.only):
        order = [by_name[n] for n in PLAN[scenario] if n in by_name]
        results[scenario] = {s.name: [] for s in order}
        for round_no in range(args.rounds):
            for server in order if round_no % 2 == 0 else order[::-1]:
                check_disk(workdir, sizes[scenario].get("size", 0) * 2)
                if args.quiet_wait > 0:
                    others = await wait_until_quiet(servers, args.quiet_wait)
                    if others >= 0.25:
                        log(f"machine still busy ({others:.2f} CPUs used by others); running anyway")
                window = CpuWindow(server, servers)
                if scenario in RSS_SCENARIOS and server.name != "ceiling":
                    with RssSampler(server) as rss:
                        result = await run_once(scenario, server.port, sizes, data, window)
                    result["rss_peak_mib"] = rss.peak / MIB
                    result["rss_before_mib"] = rss.before / MIB
                    result["rss_samples"] = len(rss.samples)
                    if rss.postgres_samples:
                        result["postgres_rss_peak_mib"] = max(rss.postgres_samples) / MIB
                else:
                    result = await run_once(scenario, server.port, sizes, data, window)
                result.update(window.result)
                results[scenario][server.name].append(result)
                shown = {k: round(v, 2) for k, v in result.items() if k != "rss_samples"}
                log(f"[{scenario} round {round_no + 1}/{args.rounds}] {server.name}: {shown}")
                await asyncio.to_thread(os.sync)  # dirty pages of this run must not slow the next
            if scenario == "a":
                disk = await asyncio.to_thread(disk_ceiling, workdir, data, sizes["a"]["size"])
                results[scenario].setdefault("disk", []).append(disk)
                log(f"[a round {round_no + 1}/{args.rounds}] disk ceiling: {round(disk['mb_s'], 1)} MB/s")
                await asyncio.to_thread(os.sync)
    return results


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if "d" in args.only and "a" not in args.only:
        log("note: peak RSS during (a) is only reported when (a) runs")
    info = report.machine(node_binary())
    if "peer-node20" in args.servers:
        info["node20"] = report.version_of([node20_binary(), "--version"])
    config = {
        "rounds": args.rounds,
        "only": args.only,
        "quick": args.quick,
        "servers": args.servers,
        "sizes": sizes,
    }
    print(report.preamble(info, config), flush=True)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="tusportal-bench-", dir=args.tmp_dir))
    servers = make_servers(args.servers, workdir)
    started: list[Server] = []
    status = 1
    try:
        for server in servers:
            log(f"starting {server.name} on port {server.port} (data {server.data_dir})")
            t0 = time.monotonic()
            started.append(server)
            server.start()
            log(f"{server.name} ready after {time.monotonic() - t0:.1f} s")
        results = uvloop.run(benchmark(args, servers, sizes, workdir))
        text = report.table(results, sizes)
        print()
        print(text, flush=True)
        if "peer-node20" in args.servers:
            node20 = report.table(results, sizes, "peer-node20")
            text += "\n\nThe same against the peer on Node 20:\n\n" + node20
            print("\nThe same against the peer on Node 20 (the issue's reference runtime):\n", flush=True)
            print(node20, flush=True)
        disk = results.get("a", {}).get("disk")
        if disk:
            line = disk_line(disk, results["a"])
            text += "\n\n" + line
            print("\n" + line, flush=True)
        print()
        print(f"CPU seconds during the timed part of a run (medians; {os.cpu_count()} CPUs):")
        print(report.cpu_table(results), flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"machine": info, "config": config, "results": results, "table": text,
                       "cpu_table": report.cpu_table(results)}  # fmt: skip
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
            log(f"raw results saved to {args.json}")
        status = 0
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    except RuntimeError as exc:
        log(f"server failed: {exc}")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(started):
            if status != 0:
                log(f"--- last lines of {server.name}'s log ---\n{server.log_tail(15)}")
            server.stop()
        if args.keep_logs:
            log(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
