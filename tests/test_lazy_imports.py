"""What `tusportal serve` does not load until it is used: Jinja2 (the first UI page) and httpx (the
first webhook attempt, a configured pre-create hook, a new subscription's URL check). A server that
only takes uploads stays smaller: httpx with its dependencies and TLS context is about 10 MiB,
Jinja2 about 2 MiB. uvicorn runs without websocket support (tusportal has no websocket routes), so
the websockets package (about 2 MiB) is never loaded."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_serve_command_imports_neither_jinja2_nor_httpx() -> None:
    _run(
        "import sys\n"
        "import tusportal.cli\n"
        "from tusportal.web import app, ui\n"
        "loaded = sorted(m for m in ('jinja2', 'httpx') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )


def test_templates_load_at_first_use_once() -> None:
    _run(
        "import sys\n"
        "from tusportal.web import ui\n"
        "ui.templates()\n"
        "assert 'jinja2' in sys.modules\n"
        "assert ui.templates() is ui.templates()\n"
    )


def test_webhook_client_and_url_check_load_httpx_when_used() -> None:
    _run(
        "import sys\n"
        "from tusportal.events import management, webhooks\n"
        "assert 'httpx' not in sys.modules\n"
        "management.check_url('https://example.org/hook')\n"
        "assert 'httpx' in sys.modules\n"
        "assert webhooks.new_client().follow_redirects is False\n"
    )


def test_uvicorn_is_configured_without_websockets() -> None:
    _run(
        "import sys\n"
        "from tusportal.cli import uvicorn_config\n"
        "from tusportal.settings import Settings\n"
        "async def app(scope, receive, send): pass\n"
        "config = uvicorn_config(app, Settings())\n"
        "config.load()\n"
        "assert config.ws == 'none' and config.ws_protocol_class is None\n"
        "assert 'websockets' not in sys.modules, 'websockets loaded'\n"
    )
