"""What a real server logs about an upload: every line of a tus request names the upload and its
owner next to the request id, from whichever layer it comes (web, service, state, storage), and so
do the event worker's lines about the upload's events; and info-level lines hold no tokens and no
metadata values (file names can be personal data)."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cli_support import run_tusportal

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "events"))

from events_support import FAST, Receiver  # noqa: E402
from events_support import receiver as receiver  # noqa: E402 - pytest fixture
from test_scale_out import s3_server as s3_server  # noqa: E402 - pytest fixture (SeaweedFS)

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def tusportal(server: Any, *args: str, stdin: str = "") -> str:
    result = run_tusportal(
        *args,
        "--data-dir",
        str(server.data_dir),
        env={"TUSPORTAL_DATABASE_URL": server.database_url, "TUSPORTAL_LOG_LEVEL": "warning"},
        stdin=stdin,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def account(server: Any, email: str) -> tuple[str, str]:
    """A (non-admin) user and a token of theirs: (user id, token)."""
    made = tusportal(server, "user", "create", email, stdin="a-long-enough-passw0rd\n")
    user_id = re.search(r"\(([^)]+)\)\s*$", made.strip())
    assert user_id is not None, made
    token = tusportal(server, "token", "create", "--user", email, "--name", "logs").strip().splitlines()[-1]
    return user_id[1], token


def log_lines(server: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


def test_every_line_of_a_patch_names_the_upload_owner_and_request(
    server_factory: Any, s3_server: Any, receiver: Receiver
) -> None:
    server = server_factory(
        {
            **s3_server.env(s3_server.new_bucket()),
            **FAST,
            "TUSPORTAL_AUTH": "required",
            "TUSPORTAL_LOG_LEVEL": "debug",
        }
    )
    owner_id, token = account(server, "logs@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    hook = httpx.post(
        server.base + "/api/webhooks",
        json={"url": receiver.url, "event_types": ["tusportal.file.uploaded"]},
        headers=auth,
        timeout=10,
    )
    assert hook.status_code == 201, hook.text

    created = httpx.post(
        server.url, headers={**TUS, **auth, "Upload-Length": "10", "X-Request-ID": "create-1"}
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    first = httpx.patch(
        location, content=b"0123", headers={**OCTET, **auth, "Upload-Offset": "0", "X-Request-ID": "patch-1"}
    )
    assert first.status_code == 204, first.text
    last = httpx.patch(
        location,
        content=b"456789",
        headers={**OCTET, **auth, "Upload-Offset": "4", "X-Request-ID": "patch-2"},
    )
    assert last.status_code == 204, last.text
    receiver.wait_for(1, timeout=30)
    time.sleep(0.5)  # the worker logs its attempt after the receiver answered

    lines = log_lines(server)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if "request_id" in line:
            by_request.setdefault(line["request_id"], []).append(line)
    # creation: the id is bound as soon as the service makes it
    assert "upload_created" in {line["event"] for line in by_request["create-1"]}
    # the completing PATCH: service lines, and the S3 store's, which name only their object key
    events = {line["event"] for line in by_request["patch-2"]}
    assert {"chunk_written", "s3_completed", "upload_finished"} <= events, events
    for request_id in ("create-1", "patch-1", "patch-2"):
        for line in by_request[request_id]:
            assert line.get("upload_id") == upload_id, line
            assert line.get("owner_id") == owner_id, line

    # the event worker: no request, but the upload and owner its event is about
    attempts = [line for line in lines if line["event"] == "webhook_attempt"]
    assert attempts, "the worker logged its delivery"
    for line in attempts:
        assert line.get("upload_id") == upload_id and line.get("owner_id") == owner_id, line
        assert "request_id" not in line, line
    server.stop()


def test_info_lines_hold_no_token_and_no_metadata_value(server_factory: Any) -> None:
    server = server_factory({"TUSPORTAL_AUTH": "required", "TUSPORTAL_LOG_LEVEL": "info"})
    _, token = account(server, "private@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    filename = "alice-smith-blood-test-results.pdf"
    note = "call me on +44 20 7946 0958"
    metadata = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in (("filename", filename), ("note", note))
    )
    body = b"private bytes"
    created = httpx.post(
        server.url,
        content=body[:5],
        headers={**OCTET, **auth, "Upload-Length": str(len(body)), "Upload-Metadata": metadata},
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    upload_id = location.rsplit("/", 1)[1]
    assert (
        httpx.patch(location, content=body[5:], headers={**OCTET, **auth, "Upload-Offset": "5"}).status_code
        == 204
    )
    assert httpx.head(location, headers={**TUS, **auth}).headers["upload-metadata"] == metadata
    downloaded = httpx.get(location, headers=auth)
    assert downloaded.content == body and filename in downloaded.headers["content-disposition"]
    # failures log too: a wrong offset, and a token that does not exist
    assert httpx.patch(
        location, content=b"x", headers={**OCTET, **auth, "Upload-Offset": "1"}
    ).status_code in (
        400,
        409,
    )
    bogus = "tp_" + "q" * 43
    assert httpx.head(location, headers={**TUS, "Authorization": f"Bearer {bogus}"}).status_code == 401
    server.stop()

    text = server.logs()
    lines = log_lines(server)
    assert {line["level"] for line in lines} <= {"info", "warning", "error"}, "an info-level run"
    mine = {line["event"] for line in lines if line.get("upload_id") == upload_id}
    assert {"upload_created", "upload_finished"} <= mine, mine  # the upload was logged
    for secret in (token, token.removeprefix("tp_"), bogus.removeprefix("tp_"), "a-long-enough-passw0rd"):
        assert secret not in text
    for value in (filename, "alice-smith", note, "7946"):
        assert value not in text, value
    assert base64.b64encode(filename.encode()).decode() not in text
    assert base64.b64encode(note.encode()).decode() not in text
