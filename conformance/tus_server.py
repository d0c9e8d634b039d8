"""Start, stop and restart a tus server under test, from a small state directory.

The state directory holds `server.json` (how to start the server), `server.pid` (the process
group we started) and the server's logs. Because everything lives in files, a restart can be done
by a separate process: the suite's liveness plugin runs `run.py --restart STATE_DIR` when the
server dies, and the runner stops whatever is running at the end.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServerSpec:
    command: list[str]
    env: dict[str, str]
    cwd: str
    url: str
    ready_timeout: float


class ServerFailedToStart(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """The server process described by `state_dir/server.json`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.spec_file = state_dir / "server.json"
        self.pid_file = state_dir / "server.pid"
        self.log_file = state_dir / "server.log"
        self.report_file = state_dir / "report.json"

    @property
    def spec(self) -> ServerSpec:
        return ServerSpec(**json.loads(self.spec_file.read_text()))

    def save(self, spec: ServerSpec) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.spec_file.write_text(json.dumps(asdict(spec), indent=2))

    def start(self) -> None:
        """Start the server in its own process group and wait until OPTIONS answers."""
        spec = self.spec
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                spec.command,
                cwd=spec.cwd,
                env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_ready(process, spec)

    def _wait_ready(self, process: subprocess.Popen[bytes], spec: ServerSpec) -> None:
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerFailedToStart(
                    f"server exited with {process.returncode} before answering; log tail:\n{self.log_tail()}"
                )
            try:
                response = httpx.request("OPTIONS", spec.url, timeout=1.0)
                if response.status_code in (200, 204):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerFailedToStart(
            f"server did not answer OPTIONS {spec.url} within {spec.ready_timeout:.0f} s; "
            f"log tail:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the process group we started (TERM, then KILL after a grace period).

        Then stop any process it left behind in another session (an embedded database the dead
        server had started, say): those are found by our private state directory in their
        command line, so only processes this runner caused are touched.
        """
        if self.pid_file.exists():
            pgid = int(self.pid_file.read_text())
            self.pid_file.unlink()
            _terminate(lambda sig: os.killpg(pgid, sig), lambda: _group_alive(pgid))
        for pid in _pids_mentioning(str(self.state_dir / "data")):
            _terminate(functools.partial(os.kill, pid), functools.partial(_pid_alive, pid))

    def restart(self) -> None:
        """Stop what is left of the old server, keep its log, start a new one."""
        self.stop()
        if self.log_file.exists():
            index = len(list(self.state_dir.glob("server.log.*"))) + 1
            self.log_file.rename(self.state_dir / f"server.log.{index}")
        self.start()

    def crash_logs(self) -> list[str]:
        """For each restart so far, the most telling line of the dead server's log."""
        logs = sorted(self.state_dir.glob("server.log.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        return [_telling_line(log.read_text(errors="replace")) for log in logs]

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return "(no log)"
        text = self.log_file.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _terminate(send: Callable[[int], None], alive: Callable[[], bool]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
        try:
            send(sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.05)


def _pids_mentioning(text: str) -> list[int]:
    """Live processes, other than us and our ancestors, whose command line contains `text`."""
    found = []
    spared = _ancestors()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        pid = int(cmdline.parent.name)
        if pid in spared:
            continue
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(pid)
        except OSError:
            continue
    return [pid for pid in found if _pid_alive(pid)]


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose members are all zombies still "exists"; reap our direct child if it is one.
    try:
        pid, _ = os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        return _any_live_member(pgid)
    return pid == 0 or _any_live_member(pgid)


def _any_live_member(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False


def _telling_line(log: str) -> str:
    """The first error-looking line of a log, else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if "Error" in line or "error" in line or "Traceback" in line:
            return line[:200]
    return lines[-1][:200] if lines else "(empty log)"
