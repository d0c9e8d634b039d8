"""Profiles: TUSPORTAL_ENV=production refuses unsafe settings at start-up (exit status 2, one line
naming the setting) and logs JSON unless told otherwise; development changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_tusportal

from tusportal import profiles
from tusportal.logging import resolve_format
from tusportal.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, host: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`tusportal serve` that must not get as far as starting (no database is reachable)."""
    return run_tusportal(
        "serve",
        "--host",
        host,
        "--port",
        "1",
        env={"TUSPORTAL_DATA_DIR": str(tmp_path), **env},
        clean=True,
        timeout=60,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "up.example.com"])
def test_production_refuses_anonymous_mode_on_a_non_local_bind(tmp_path: Path, host: str) -> None:
    result = serve(
        tmp_path, host, TUSPORTAL_ENV="production", TUSPORTAL_AUTH="none", TUSPORTAL_CORS_ORIGINS="*"
    )
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


@pytest.mark.parametrize("env", ["development", "production"])
def test_anonymous_is_the_default_only_on_a_local_bind(env: str) -> None:
    assert profiles.with_default_auth(Settings(env=env, host="127.0.0.1")).auth == "none"
    assert profiles.with_default_auth(Settings(env=env, host="0.0.0.0")).auth == "required"
    assert profiles.with_default_auth(Settings(env=env, host="::", auth="none")).auth == "none"  # explicit


def test_a_public_bind_without_an_auth_setting_requires_accounts(tmp_path: Path) -> None:
    """No TUSPORTAL_AUTH and a non-local bind: accounts are on, so production asks for Secure
    cookies (and not for TUSPORTAL_AUTH)."""
    result = serve(tmp_path, "0.0.0.0", TUSPORTAL_ENV="production")
    assert result.returncode == 2, result.stderr
    assert "TUSPORTAL_COOKIE_SECURE=false" in result.stderr and "TUSPORTAL_AUTH=none" not in result.stderr


def test_development_allows_everything() -> None:
    assert profiles.unsafe_setting(Settings(env="development", host="0.0.0.0")) is None


def test_production_logs_json_unless_set_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TUSPORTAL_"):
            monkeypatch.delenv(name)
    assert profiles.log_format(Settings()) == "auto"
    monkeypatch.setenv("TUSPORTAL_ENV", "production")
    assert profiles.log_format(Settings()) == "json"
    monkeypatch.setenv("TUSPORTAL_LOG_FORMAT", "console")
    assert profiles.log_format(Settings()) == "console"


def test_auto_logs_console_lines_on_a_terminal_and_json_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert resolve_format("auto") == "console"
    assert resolve_format("json") == "json"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert resolve_format("auto") == "json"
    assert resolve_format("console") == "console"


@pytest.mark.parametrize(
    ("env", "fmt", "json_lines"),
    [("production", None, True), ("development", None, True), ("development", "console", False)],
    ids=["production", "development-auto-on-a-pipe", "development-console"],
)
def test_log_format_from_the_command_line(postgres: Any, env: str, fmt: str | None, json_lines: bool) -> None:
    environ = {"TUSPORTAL_ENV": env, "TUSPORTAL_DATABASE_URL": postgres.new_database()}
    if fmt is not None:
        environ["TUSPORTAL_LOG_FORMAT"] = fmt
    result = run_tusportal("migrate", env=environ, clean=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "migration_applied" in line]
    assert lines, result.stderr
    if json_lines:
        assert all(json.loads(line)["event"] == "migration_applied" for line in lines)
    else:
        assert not any(line.startswith("{") for line in lines)


# --- known default credentials ----------------------------------------------------------------

S3 = {"storage": "s3", "s3_endpoint": "minio:9000", "s3_bucket": "tusportal"}
STRONG = "6f1c0b9e2d7a4c58b3e1f0a9d2c4b7e8"


def production(**values: Any) -> Settings:
    return Settings(env="production", host="127.0.0.1", **values)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({**S3, "s3_access_key": "tusportal", "s3_secret_key": "minioadmin"}, "TUSPORTAL_S3_SECRET_KEY"),
        ({**S3, "s3_access_key": "minioadmin", "s3_secret_key": STRONG}, "TUSPORTAL_S3_ACCESS_KEY"),
        ({**S3, "s3_access_key": "tusportal", "s3_secret_key": "change-me-minio"}, "TUSPORTAL_S3_SECRET_KEY"),
        (
            {"database_url": "postgresql://tusportal:secret@db.example.com:5432/tusportal"},
            "TUSPORTAL_DATABASE_URL",
        ),
        ({"database_url": "postgresql://u:change-me-postgres@postgres:5432/t"}, "TUSPORTAL_DATABASE_URL"),
        ({"database_url": "host=db user=u password=change-me-postgres"}, "TUSPORTAL_DATABASE_URL"),
        (
            {"events_broker": "rabbitmq", "events_broker_url": "amqp://guest:guest@mq:5672/"},
            "TUSPORTAL_EVENTS_BROKER_URL",
        ),
        # docker-compose.yml's default when RABBITMQ_DEFAULT_PASS is not set
        (
            {"events_broker": "rabbitmq", "events_broker_url": "amqp://tusportal:tusportal@rabbitmq:5672/"},
            "TUSPORTAL_EVENTS_BROKER_URL",
        ),
    ],
)
def test_production_refuses_known_default_credentials(values: dict[str, Any], named: str) -> None:
    refused = profiles.unsafe_setting(production(**values))
    assert refused is not None and named in refused and "known default" in refused
    assert profiles.unsafe_setting(production(**values), "worker") == refused
    secret = values.get("s3_secret_key") if "S3_SECRET" in named else None
    assert secret is None or secret not in refused  # the line names the setting, not the value
    assert profiles.unsafe_setting(Settings(env="development", **values)) is None


def test_production_accepts_credentials_of_its_own() -> None:
    settings = production(
        **S3,
        s3_access_key="tusportal",  # a user name, not a secret
        s3_secret_key=STRONG,
        database_url=f"postgresql://tusportal:{STRONG}@db:5432/tusportal",
        events_broker="rabbitmq",
        events_broker_url=f"amqp://tusportal:{STRONG}@mq:5672/",
    )
    assert profiles.unsafe_setting(settings) is None


def test_defaults_of_settings_not_in_use_are_not_refused() -> None:
    # local storage: the S3 keys are not used; the postgres broker: the broker URL is not used
    settings = production(s3_secret_key="minioadmin", events_broker_url="amqp://guest:guest@mq/")
    assert profiles.unsafe_setting(settings) is None


def test_every_password_the_project_ships_is_a_known_default() -> None:
    """.env.example's passwords and docker-compose.yml's fallbacks: each is refused in production."""
    shipped = re.findall(
        r"^[A-Z_]*(?:PASSWORD|_PASS)=(\S+)", (ROOT / ".env.example").read_text(), re.MULTILINE
    )
    compose = (ROOT / "docker-compose.yml").read_text()
    shipped += re.findall(r"\$\{[A-Z_]*(?:PASSWORD|_PASS):-([^}]+)\}", compose)
    assert len(shipped) >= 4, shipped
    for password in shipped:
        settings = production(**S3, s3_access_key="tusportal", s3_secret_key=password)
        assert profiles.unsafe_setting(settings) is not None, password


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_production_start_up_refuses_a_default_secret_in_one_line(tmp_path: Path, command: str) -> None:
    result = run_tusportal(
        command,
        "--data-dir",
        str(tmp_path),
        env={
            "TUSPORTAL_ENV": "production",
            "TUSPORTAL_STORAGE": "s3",
            "TUSPORTAL_S3_ENDPOINT": "127.0.0.1:1",
            "TUSPORTAL_S3_BUCKET": "b",
            "TUSPORTAL_S3_ACCESS_KEY": "minioadmin",
            "TUSPORTAL_S3_SECRET_KEY": "minioadmin",
        },
        clean=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TUSPORTAL_S3_ACCESS_KEY" in lines[0] and "known default" in lines[0], lines
    assert not (tmp_path / "pg").exists(), "refused before anything started"
