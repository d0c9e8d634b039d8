"""docker-compose.yml: valid against the Compose Specification schema, and wired to real settings.

The schema is the one check-jsonschema ships (`--builtin-schema vendor.compose-spec`), so nothing is
downloaded. Docker itself does not run here; no test starts the services.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tusportal.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SETTINGS = {"TUSPORTAL_" + name.upper() for name in Settings.model_fields}


def check_jsonschema() -> list[str]:
    return [sys.executable, "-m", "check_jsonschema"]


def compose() -> dict[str, Any]:
    return dict(YAML(typ="safe").load(COMPOSE.read_text()))


def test_compose_file_matches_the_compose_schema() -> None:
    result = subprocess.run(
        [*check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    depends_on: {db: {condition: whenever}}\n")
    result = subprocess.run(
        [*check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout


def test_services_and_their_wiring() -> None:
    services = compose()["services"]
    assert {"web", "worker", "postgres", "minio", "minio-init", "rabbitmq"} <= set(services)
    assert services["web"]["command"] == ["tusportal", "serve"]
    assert services["worker"]["command"] == ["tusportal", "worker"]
    for app in ("web", "worker"):
        deps = services[app]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
        assert deps["rabbitmq"] == {"condition": "service_healthy", "required": False}
        env = services[app]["environment"]
        assert env["TUSPORTAL_STORAGE"] == "s3"
        assert env["TUSPORTAL_S3_ENDPOINT"] == "minio:9000"
        assert "@postgres:5432/" in env["TUSPORTAL_DATABASE_URL"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"]
    for name in ("postgres", "minio", "rabbitmq"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_stateful_services_use_named_volumes() -> None:
    spec = compose()
    for name in ("postgres", "minio", "rabbitmq"):
        for mount in spec["services"][name]["volumes"]:
            source = mount.split(":", 1)[0]
            assert source in spec["volumes"], f"{name} mounts {source}, not a named volume"


def test_compose_sets_only_real_settings() -> None:
    for app in ("web", "worker"):
        unknown = {k for k in compose()["services"][app]["environment"] if k.startswith("TUSPORTAL_")}
        unknown -= SETTINGS
        assert not unknown, f"{app} sets variables that are not settings: {sorted(unknown)}"


def test_every_interpolated_variable_is_in_env_example() -> None:
    # ${NAME}, ${NAME:-default}, ${NAME:?message}; $${NAME} is escaped for the container's shell
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    env_example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^\s*(?:#\s*)?([A-Z][A-Z0-9_]*)=", env_example, re.MULTILINE))
    assert not used - documented, f"document in .env.example: {sorted(used - documented)}"
