"""Jinja2 is loaded at the first UI page, not when the app is built: a server that only takes
uploads does not carry it (about 2 MiB of RSS)."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_app_does_not_import_jinja2() -> None:
    code = (
        "import sys\n"
        "from tusportal.web import app, ui\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported with the app'\n"
        "ui.templates()\n"
        "assert 'jinja2' in sys.modules\n"
        "assert ui.templates() is ui.templates()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
