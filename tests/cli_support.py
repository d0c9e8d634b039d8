"""`tusportal` commands run in a subprocess, as an operator runs them, and their JSON log lines.
Shared by the tests of the CLI, cleanup, accounts, events and profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_tusportal(
    *args: str, env: dict[str, str], clean: bool = False, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m tusportal.cli *args` in the project root, with `env` over this process's
    environment (with `clean`, over it without any TUSPORTAL_ variable). Never checks the exit."""
    base = {k: v for k, v in os.environ.items() if not (clean and k.startswith("TUSPORTAL_"))}
    return subprocess.run(
        [sys.executable, "-m", "tusportal.cli", *args],
        env={**base, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def logged(result: subprocess.CompletedProcess[str], event: str) -> dict[str, Any]:
    """The first JSON log line of `event` that the command wrote on stderr."""
    for line in result.stderr.splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            return dict(json.loads(line))
    raise AssertionError(f"no {event} in:\n{result.stderr}")
