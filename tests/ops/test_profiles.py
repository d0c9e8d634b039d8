"""Profiles: TUSPORTAL_ENV=production refuses unsafe settings at start-up (exit status 2, one line
naming the setting) and logs JSON unless told otherwise; development changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tusportal import profiles
from tusportal.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, host: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`tusportal serve` that must not get as far as starting (no database is reachable)."""
    return subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "serve", "--host", host, "--port", "1"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("TUSPORTAL_")},
            "TUSPORTAL_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "up.example.com"])
def test_production_refuses_anonymous_mode_on_a_non_local_bind(tmp_path: Path, host: str) -> None:
    result = serve(tmp_path, host, TUSPORTAL_ENV="production", TUSPORTAL_CORS_ORIGINS="*")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TUSPORTAL_AUTH=none" in lines[0] and f"TUSPORTAL_HOST={host}" in lines[0]
    assert "TUSPORTAL_ENV=production" in lines[0]
    assert not (tmp_path / "pg").exists(), "refused before anything started"


def test_production_anonymous_on_loopback_starts(server_factory: Any) -> None:
    server = server_factory({"TUSPORTAL_ENV": "production"})  # binds 127.0.0.1
    assert server.proc is not None and server.proc.poll() is None
    server.stop()


def test_production_with_auth_required_is_not_refused_on_any_bind() -> None:
    settings = Settings(
        env="production", auth="required", host="0.0.0.0", cors_origins="*", cookie_secure=True
    )
    assert profiles.unsafe_setting(settings) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_local_binds_are_local(host: str) -> None:
    assert profiles.is_local(host)
    assert profiles.unsafe_setting(Settings(env="production", host=host)) is None


def test_development_allows_everything() -> None:
    assert profiles.unsafe_setting(Settings(env="development", host="0.0.0.0")) is None


def test_production_logs_json_unless_set_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TUSPORTAL_"):
            monkeypatch.delenv(name)
    assert profiles.log_format(Settings()) == "console"
    monkeypatch.setenv("TUSPORTAL_ENV", "production")
    assert profiles.log_format(Settings()) == "json"
    monkeypatch.setenv("TUSPORTAL_LOG_FORMAT", "console")
    assert profiles.log_format(Settings()) == "console"


@pytest.mark.parametrize(("env", "json_lines"), [("production", True), ("development", False)])
def test_production_logs_json_from_the_command_line(postgres: Any, env: str, json_lines: bool) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TUSPORTAL_")}
    result = subprocess.run(
        [sys.executable, "-m", "tusportal.cli", "migrate"],
        env={**environ, "TUSPORTAL_ENV": env, "TUSPORTAL_DATABASE_URL": postgres.new_database()},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "migration_applied" in line]
    assert lines, result.stderr
    if json_lines:
        assert all(json.loads(line)["event"] == "migration_applied" for line in lines)
    else:
        assert not any(line.startswith("{") for line in lines)
