"""The UI's npm assets: served from node_modules under /static/vendor/, and a clear message (page
and log) when they are missing instead of a broken upload page."""

from __future__ import annotations

from pathlib import Path

import httpx

from tusportal.web.ui import assets


def test_missing_lists_what_the_ui_needs(tmp_path: Path) -> None:
    assert assets.missing(tmp_path) == ["uppy/dist/uppy.min.mjs", "uppy/dist/uppy.min.css"]
    dist = tmp_path / "uppy" / "dist"
    dist.mkdir(parents=True)
    (dist / "uppy.min.mjs").write_text("export {}")
    assert assets.missing(tmp_path) == ["uppy/dist/uppy.min.css"]
    (dist / "uppy.min.css").write_text("")
    assert assets.missing(tmp_path) == []
    assert assets.ensure_installed(tmp_path, install=True) is True


def test_project_assets_come_from_the_lock_file() -> None:
    # package.json's dependencies (not devDependencies) hold what the UI serves
    import json

    package = json.loads((assets.PROJECT_ROOT / "package.json").read_text())
    assert set(assets.VENDOR) <= set(package["dependencies"])


def test_a_server_without_assets_says_what_to_run(server_factory, tmp_path: Path) -> None:
    empty = tmp_path / "node_modules"
    empty.mkdir()
    server = server_factory({"TUSPORTAL_ASSETS_DIR": str(empty), "TUSPORTAL_ASSETS_INSTALL": "false"})
    page = httpx.get(server.base + "/upload")
    assert page.status_code == 200
    assert "is not installed on this server" in page.text and assets.INSTALL_HINT in page.text
    assert "/static/upload.js" not in page.text  # no script that would fail to import Uppy
    assert httpx.get(server.base + "/static/vendor/uppy/uppy.min.mjs").status_code == 404
    assert "ui_assets_missing" in server.logs()
    server.stop()


def test_the_project_server_serves_uppy(tus_server) -> None:
    script = httpx.get(tus_server.base + "/static/vendor/uppy/uppy.min.mjs")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert (
        assets.PROJECT_ROOT / "node_modules" / "uppy" / "dist" / "uppy.min.mjs"
    ).read_bytes() == script.content
    assert httpx.get(tus_server.base + "/static/vendor/uppy/../../../package.json").status_code == 404
    assert httpx.get(tus_server.base + "/static/app.css").status_code == 200
