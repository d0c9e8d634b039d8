"""The upload page (/upload): Uppy's Dashboard over tus (static/upload.js), files joined to a chosen
open batch or a new one. Uppy is served from /static/vendor/uppy/ (see assets.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tusportal.web.ui import assets, html_errors, render
from tusportal.web.ui.deps import UIDeps, owner


class UploadPage:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [Route("/upload", html_errors(self.show), methods=["GET"])]

    async def show(self, request: Request) -> Response:
        open_batches = await self.deps.batches.batches.list_batches(
            state="open", limit=100, owner_id=owner(request)
        )
        return render(
            request,
            "upload.html",
            {
                "tus_base": self.deps.tus_base,
                "open_batches": open_batches,
                "assets_missing": assets.missing(self.deps.node_modules),
                "install_hint": assets.INSTALL_HINT,
                "project_root": str(assets.PROJECT_ROOT),
                "selected_batch": request.query_params.get("batch", ""),
            },
        )
