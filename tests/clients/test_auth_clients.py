"""tuspy and tus-js-client upload to a server with TUSPORTAL_AUTH=required, sending the API token
through their header options; without it, or with someone else's token, they get nowhere."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from tusclient import client
from tusclient.exceptions import TusCommunicationError

from tusportal import auth

REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def add_user(database_url: str, email: str) -> str:
    user_id = "u_" + secrets.token_hex(6)
    token = auth.new_token()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, %s)",
            (user_id, email, auth.hash_password("not-used-here")),
        )
        conn.execute(
            "INSERT INTO api_tokens (id, user_id, name, token_hash) VALUES (%s, %s, 'client', %s)",
            ("tok_" + secrets.token_hex(6), user_id, token.token_hash),
        )
    return token.token


@pytest.fixture(scope="module")
def secured(server_factory):
    server = server_factory({"TUSPORTAL_AUTH": "required"})
    yield (
        server,
        add_user(server.database_url, "me@example.com"),
        add_user(server.database_url, "you@example.com"),
    )
    server.stop()  # done with it: no idle server for the rest of the session


def downloaded(url: str, token: str) -> bytes:
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.timeout(120)
def test_tuspy_with_a_bearer_token(secured, tmp_path: Path) -> None:
    server, mine, yours = secured
    source = os.urandom(2 * MIB + 17)
    path = tmp_path / "source.bin"
    path.write_bytes(source)

    with pytest.raises(TusCommunicationError):  # no token: 401 on creation
        client.TusClient(server.url).uploader(str(path), chunk_size=MIB).upload()

    tus = client.TusClient(server.url, headers={"Authorization": f"Bearer {mine}"})
    first = tus.uploader(str(path), chunk_size=MIB, metadata={"filename": "source.bin"})
    first.upload(stop_at=MIB)
    assert first.url is not None

    with pytest.raises(TusCommunicationError):  # someone else's token: the upload does not exist
        client.TusClient(server.url, headers={"Authorization": f"Bearer {yours}"}).uploader(
            str(path), url=first.url, chunk_size=MIB
        ).upload()

    second = tus.uploader(str(path), url=first.url, chunk_size=MIB)
    assert second.offset == MIB
    second.upload()
    assert hashlib.sha256(downloaded(first.url, mine)).digest() == hashlib.sha256(source).digest()


@pytest.mark.timeout(120)
def test_tuspy_auth_example_runs(secured, tmp_path: Path) -> None:
    server, mine, _ = secured
    source = os.urandom(MIB + 3)
    path = tmp_path / "example.bin"
    path.write_bytes(source)
    result = subprocess.run(
        [sys.executable, "examples/auth_tuspy.py", str(path), "--url", server.url],
        cwd=REPO_ROOT,
        env={**os.environ, "TUSPORTAL_TOKEN": mine},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    url = next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("upload URL"))
    assert downloaded(url, mine) == source


@pytest.mark.timeout(120)
def test_tus_js_client_with_a_bearer_token(secured, node: Path, tmp_path: Path) -> None:
    server, mine, yours = secured
    source = os.urandom(3 * MIB + 5)
    path = tmp_path / "source.bin"
    path.write_bytes(source)
    script = Path(__file__).parent / "js" / "bearer_upload.mjs"

    def run(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(node), str(script), server.url, str(path), token, str(MIB)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )

    result = run(mine)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["methods"][0] == "POST" and report["methods"].count("PATCH") >= 3
    assert downloaded(report["upload_url"], mine) == source
    assert httpx.head(report["upload_url"], headers={"Tus-Resumable": "1.0.0"}).status_code == 401
    other = httpx.head(
        report["upload_url"], headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {yours}"}
    )
    assert other.status_code == 404

    refused = run("tp_not-a-real-token")
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
