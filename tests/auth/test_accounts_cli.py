"""`tusportal user create` and `tusportal token create` against a running server's database."""

from __future__ import annotations

import subprocess

import httpx
from cli_support import run_tusportal


def tusportal(server, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_tusportal(
        *args,
        "--data-dir",
        str(server.data_dir),
        env={"TUSPORTAL_DATABASE_URL": server.database_url, "TUSPORTAL_LOG_LEVEL": "warning"},
        stdin=stdin,
    )


def test_user_and_token_from_the_cli_open_the_server(server_factory) -> None:
    server = server_factory({"TUSPORTAL_AUTH": "required"})
    made = tusportal(server, "user", "create", "Ops@Example.com", "--admin", stdin="s3cret-passw0rd\n")
    assert made.returncode == 0, made.stderr
    assert "created admin ops@example.com" in made.stdout
    assert "s3cret" not in made.stdout + made.stderr

    again = tusportal(server, "user", "create", "ops@example.com", stdin="another-passw0rd\n")
    assert again.returncode == 1 and "exists" in again.stderr
    weak = tusportal(server, "user", "create", "weak@example.com", stdin="short\n")
    assert weak.returncode == 1 and "at least" in weak.stderr

    out = tusportal(
        server, "token", "create", "--user", "ops@example.com", "--name", "ci", "--expires-days", "30"
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("tp_") and " " not in token

    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "0"}
    refused = httpx.post(server.url, headers=headers)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    created = httpx.post(server.url, headers={**headers, "Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text

    listed = tusportal(server, "token", "list", "--user", "ops@example.com")
    assert listed.returncode == 0 and "\tci\tlive\t" in listed.stdout and token not in listed.stdout
    token_id = listed.stdout.split("\t", 1)[0]
    assert tusportal(server, "token", "revoke", token_id).returncode == 0
    again_revoked = tusportal(server, "token", "revoke", token_id)
    assert again_revoked.returncode == 1 and "no such live token" in again_revoked.stderr
    assert "\tci\trevoked\t" in tusportal(server, "token", "list", "--user", "ops@example.com").stdout

    unknown = tusportal(server, "token", "create", "--user", "nobody@example.com", "--name", "x")
    assert unknown.returncode == 1 and "no user" in unknown.stderr
    server.stop()
