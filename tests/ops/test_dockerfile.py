"""The Dockerfile: hadolint-clean, and a runtime stage that is small, non-root and self-checking.

Docker does not run on the development machines or in CI, so nothing here builds the image: these
are static checks on the Dockerfile's text, plus its HEALTHCHECK command run against a real server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"

# what a runtime image must not contain or install: compilers, package managers, node, uv
BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|apk|dnf|yum|pip|pip3|uv|npm|npx|node|nodejs|gcc|g\+\+|cc|clang|make|"
    r"build-essential|curl|wget|git)\b"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, args = whole.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name))
        elif found:
            found[-1].instructions.append((keyword, args))
    return found


def runtime() -> Stage:
    return stages()[-1]


def build_args() -> dict[str, str]:
    values = {}
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            values[name] = value
    return values


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_build_assets_and_venv_then_copy_into_a_slim_runtime() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: a build stage and a runtime stage"
    names = {stage.name for stage in all_stages}
    assert {"assets", "build", "runtime"} <= names
    build_text = " ".join(args for s in all_stages[:-1] for _, args in s.instructions)
    assert re.search(r"pip install [^&]*\"?uv==", build_text), "uv comes from PyPI through pip"
    runs = [args for stage in all_stages[:-1] for args in stage.all("RUN")]
    syncs = [found for args in runs for found in re.findall(r"uv sync[^&;]*", args)]
    assert syncs, "the build stage installs with uv sync"
    for sync in syncs:
        assert "--locked" in sync and "--no-dev" in sync, f"{sync}: the lock file, runtime deps only"
    assert "npm ci" in build_text
    assert not re.search(r"curl|wget", build_text), "nothing is downloaded by a script"
    base = runtime().base
    if base.startswith("${"):
        base = build_args()[base.strip("${}")]
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    copies = runtime().all("COPY")
    assert any("--from=build" in c and "/app/.venv" in c for c in copies)
    assert any("--from=assets" in c and "node_modules" in c for c in copies)


def test_runtime_runs_as_a_non_root_user() -> None:
    users = runtime().all("USER")
    assert users, "the runtime stage sets USER"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"} and group not in {"root", "0"}, users[-1]


def test_runtime_has_no_build_tools() -> None:
    for keyword, args in runtime().instructions:
        if keyword == "RUN":
            assert not BUILD_TOOLS.search(args), f"runtime stage runs a build tool: {args}"
        if keyword == "COPY":
            source = args.split()[-2]
            assert not re.search(r"\b(uv|node|npm|bin/node)$", source), f"copies a build tool: {args}"


def test_runtime_settings_volume_port_and_command() -> None:
    env = " ".join(runtime().all("ENV"))
    assert "TUSPORTAL_DATA_DIR=/data" in env
    assert "TUSPORTAL_HOST=0.0.0.0" in env
    assert runtime().all("VOLUME") == ['["/data"]']
    assert runtime().all("EXPOSE") == ["8080"]
    assert json.loads(runtime().all("CMD")[-1]) == ["tusportal", "serve"]


def healthcheck_command() -> list[str]:
    checks = runtime().all("HEALTHCHECK")
    assert len(checks) == 1, "one HEALTHCHECK in the runtime stage"
    options, _, command = checks[0].partition("CMD ")
    assert command, "HEALTHCHECK CMD ..."
    assert "NONE" not in options
    argv = json.loads(command) if command.lstrip().startswith("[") else shlex.split(command)
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def test_healthcheck_uses_python_not_curl() -> None:
    argv = healthcheck_command()
    assert argv[0] == "python"
    assert "/healthz" in " ".join(argv)
    assert not re.search(r"curl|wget", " ".join(argv))


def test_healthcheck_command_passes_on_a_live_server_and_fails_on_a_dead_port(tus_server) -> None:
    argv = [sys.executable, *healthcheck_command()[1:]]
    alive = subprocess.run(
        argv, env={**os.environ, "TUSPORTAL_PORT": str(tus_server.port)}, capture_output=True, timeout=30
    )
    assert alive.returncode == 0, alive.stderr
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        unused = s.getsockname()[1]
    env = {**os.environ, "TUSPORTAL_PORT": str(unused)}
    dead = subprocess.run(argv, env=env, capture_output=True, timeout=30)
    assert dead.returncode != 0


def test_dockerignore_lets_every_copied_path_in() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for stage in stages():
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            words = [w for w in args.split() if not w.startswith("--")]
            for source in words[:-1]:
                assert source.rstrip("/") in allowed, f"{source} is copied but excluded by .dockerignore"
