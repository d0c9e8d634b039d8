"""Start a tus server, run the conformance suite against it, stop it, print a rule table.

    uv run python conformance/run.py --target peer        # @tus/server (the reference peer)
    uv run python conformance/run.py --target tusportal   # this project
    uv run python conformance/run.py --target peer -- -k checksum -x   # extra pytest args

Exit code: pytest's for tusportal; for the peer 0 whenever the suite ran (its failures are the
report, not an error); 3 when the server could not be started.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tus_report import print_summary
from tus_server import ServerFailedToStart, ServerProcess, ServerSpec, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAX_SIZE = 1024 * 1024 * 1024  # advertised, so the 413 rule can be tested
PEER_EXPIRY_MS = 24 * 3600 * 1000  # so the peer sends Upload-Expires it advertises
SERVER_FAILED = 3


def peer_spec(port: int, data_dir: Path) -> ServerSpec:
    return ServerSpec(
        command=["uv", "run", "node", "peer/server.mjs"],
        env={
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DIR": str(data_dir),
            "MAX_SIZE": str(MAX_SIZE),
            "EXPIRY_MS": str(PEER_EXPIRY_MS),
        },
        cwd=str(REPO),
        url=f"http://127.0.0.1:{port}/files/",
        ready_timeout=30.0,
    )


def tusportal_spec(port: int, data_dir: Path) -> ServerSpec:
    return ServerSpec(
        command=[
            *("uv", "run", "tusportal", "serve"),
            *("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)),
        ],
        env={"TUSPORTAL_MAX_SIZE": str(MAX_SIZE)},
        cwd=str(REPO),
        url=f"http://127.0.0.1:{port}/files/",
        ready_timeout=120.0,  # the embedded PostgreSQL starts on first run
    )


TARGETS = {"peer": peer_spec, "tusportal": tusportal_spec}


def ensure_node_modules() -> None:
    if (REPO / "node_modules" / "@tus" / "server").is_dir():
        return
    subprocess.run(["uv", "run", "npm", "ci"], cwd=REPO, check=True)


def run_suite(server: ServerProcess, state_dir: Path, pytest_args: list[str]) -> int:
    restart = [sys.executable, str(Path(__file__).resolve()), "--restart", str(state_dir)]
    env = {
        **os.environ,
        "TUS_RESTART_CMD": shlex.join(restart),
        "TUS_REPORT_FILE": str(server.report_file),
    }
    command = [
        *(sys.executable, "-m", "pytest", str(HERE)),
        *("--tus-url", server.spec.url, "-p", "no:cacheprovider"),
        *pytest_args,
    ]
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument("--restart", metavar="STATE_DIR", help=argparse.SUPPRESS)
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]

    if args.restart:  # called by the suite's liveness plugin after the server died
        ServerProcess(Path(args.restart)).restart()
        return 0
    if not args.target:
        parser.error("--target is required")

    state_dir = Path(tempfile.mkdtemp(prefix=f"tus-conformance-{args.target}-"))
    server = ServerProcess(state_dir)
    server.save(TARGETS[args.target](free_port(), state_dir / "data"))
    code: int | None = None
    try:
        if args.target == "peer":
            ensure_node_modules()
        server.start()
        code = run_suite(server, state_dir, pytest_args)
    except ServerFailedToStart as error:
        print(f"run.py: {args.target} did not start: {error}", file=sys.stderr)
    finally:
        server.stop()
        report = json.loads(server.report_file.read_text()) if server.report_file.exists() else None
        crash_logs = server.crash_logs()
        if args.keep:
            print(f"run.py: logs and data kept in {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
    if code is None:
        return SERVER_FAILED
    print_summary(args.target, report, crash_logs)
    if args.target == "peer":
        return 0 if code in (0, 1) else code
    return code


if __name__ == "__main__":
    sys.exit(main())
