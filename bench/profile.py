"""Where a tusportal server spends its time in one scenario, sampled with py-spy.

    uv run --with py-spy python bench/profile.py --scenario c [--repeat 10] [--idle] [--quick]

Starts one tusportal (as bench/run.py does), attaches `py-spy record` to it, runs the scenario
`--repeat` times with the benchmark client, stops both and prints the functions with the most
samples, inclusive and self. The collapsed stacks are kept (path printed at the end).
`--idle` also samples threads that wait (time spent waiting for PostgreSQL or the disk shows up).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scenarios
import uvloop
from run import FULL, QUICK, run_once
from servers import make_servers

FRAME_LINE = re.compile(r":\d+\)$")
# leaf frames of threads that merely wait for work (py-spy does not always see them as idle)
IDLE_LEAVES = {"_worker (concurrent/futures/thread.py)"}


def summarize(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [FRAME_LINE.sub(")", f) for f in stack.split(";")]
        if frames[-1] in IDLE_LEAVES:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    out = [f"{total} samples (idle I/O-pool threads left out)"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        out.append(f"\ntop {top} by {title}:")
        for frame, n in counter.most_common(top):
            out.append(f"{100 * n / max(total, 1):6.1f}%  {frame}")
    return "\n".join(out)


async def drive(scenario: str, port: int, sizes: dict, repeat: int) -> None:
    data = memoryview(os.urandom(16 << 20))
    await scenarios.many_small("127.0.0.1", port, data, 50, 64 * 1024, 10)  # warm-up
    for i in range(repeat):
        result = await run_once(scenario, port, sizes, data)
        shown = {k: round(v, 2) for k, v in result.items()}
        print(f"run {i + 1}/{repeat}: {shown}", file=sys.stderr, flush=True)
        await asyncio.to_thread(os.sync)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", choices=["a", "b", "c", "d"], default="c")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--idle", action="store_true", help="also sample waiting threads")
    parser.add_argument("--fsync", action="store_true", help="TUSPORTAL_FSYNC_EVERY_PATCH=true")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tusportal-profile")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        parser.error("py-spy not found: run with `uv run --with py-spy python bench/profile.py ...`")
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tusportal-profile-"))
    name = "tusportal-fsync" if args.fsync else "tusportal"
    (server,) = make_servers([name], workdir)
    raw = args.out / f"{args.scenario}-{name}.txt"
    raw.unlink(missing_ok=True)  # never summarize a previous run's stacks
    spy: subprocess.Popen | None = None
    try:
        server.start()
        assert server.process is not None
        argv = [py_spy, "record", "--pid", str(server.process.pid), "--rate", str(args.rate)]
        argv += ["--nonblocking", "--format", "raw", "--output", str(raw)]
        argv += ["--idle"] if args.idle else []
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        uvloop.run(drive(args.scenario, server.port, QUICK if args.quick else FULL, args.repeat))
    finally:
        if spy is not None:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if not raw.exists():
        print(f"py-spy wrote no stacks to {raw}", file=sys.stderr)
        return 1
    print(summarize(raw, args.top))
    print(f"\nraw stacks (collapsed, for flamegraph.pl or speedscope): {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
