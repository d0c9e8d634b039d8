"""The file list (/files): search by name, filter by state and batch, sort, paginate; download and
delete. GET /files does not collide with the tus endpoint, which takes only OPTIONS and POST there."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tusportal.errors import UploadNotFound
from tusportal.service.files import MAX_PAGE, MAX_PER_PAGE, SORTS, UPLOAD_STATES, FileQuery
from tusportal.web.auth import visible
from tusportal.web.ui import html_errors, render
from tusportal.web.ui.deps import UIDeps, owner
from tusportal.web.ui.forms import InvalidForm, local_path, query_int, query_text, read_form

STATE_LABELS = {
    "active": "uploading",
    "finished": "complete",
    "expired": "expired",
    "terminated": "deleted",
}


class FilePages:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route("/files", html_errors(self.list), methods=["GET"]),
            Route("/files/{upload_id}/delete", html_errors(self.delete), methods=["POST"]),
        ]

    async def list(self, request: Request) -> Response:
        order = query_text(request, "order") or "desc"
        if order not in ("asc", "desc"):
            raise InvalidForm("order must be asc or desc")
        query = FileQuery(
            owner_id=owner(request),
            name=query_text(request, "q"),
            state=query_text(request, "state"),
            batch_id=query_text(request, "batch"),
            sort=query_text(request, "sort") or "created",
            descending=order == "desc",
            page=query_int(request, "page", 1, 1, MAX_PAGE),
            per_page=query_int(request, "per_page", 50, 1, MAX_PER_PAGE),
        )
        page = await self.deps.files.search(query)
        batches = await self.deps.batches.batches.list_batches(limit=200, owner_id=owner(request))
        return render(
            request,
            "files.html",
            {
                "page": page,
                "query": query,
                "order": order,
                "sorts": SORTS,
                "states": UPLOAD_STATES,
                "state_labels": STATE_LABELS,
                "batches": batches,
                "tus_base": self.deps.tus_base,
            },
        )

    async def delete(self, request: Request) -> Response:
        """Delete (terminate) a file; someone else's answers 404 as an unknown id does."""
        upload_id = request.path_params["upload_id"]
        upload = await self.deps.uploads.uploads.get(upload_id)
        if upload is None or upload.concat_kind == "partial" or not visible(request, upload.owner_id):
            raise UploadNotFound()
        form = await read_form(request)
        await self.deps.uploads.terminate(upload_id)
        return RedirectResponse(local_path(form.get("next"), "/files"), status_code=303)
