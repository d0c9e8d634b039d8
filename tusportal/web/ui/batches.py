"""Batches: the list (/batches, with a form to create one) and one batch (/batches/{id}) with its
progress. The detail page is complete without JavaScript; static/batch.js refreshes it from
GET /api/batches/{id} while uploads run."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.errors import BatchNotFound
from tusportal.web.api_batches import STATES
from tusportal.web.auth import principal, visible
from tusportal.web.ui import html_errors, render
from tusportal.web.ui.deps import UIDeps, owner
from tusportal.web.ui.forms import InvalidForm, query_int, query_text, read_form

PER_PAGE = 25
MAX_NAME = 200


class BatchPages:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route("/batches", html_errors(self.list), methods=["GET"]),
            Route("/batches", html_errors(self.create), methods=["POST"]),
            Route("/batches/{batch_id}", html_errors(self.show), methods=["GET"]),
            Route("/batches/{batch_id}/seal", html_errors(self.seal), methods=["POST"]),
            Route("/batches/{batch_id}/cancel", html_errors(self.cancel), methods=["POST"]),
        ]

    async def list(self, request: Request) -> Response:
        state = query_text(request, "state")
        if state is not None and state not in STATES:
            raise InvalidForm(f"state must be one of {', '.join(STATES)}")
        page = query_int(request, "page", 1, 1, 1_000_000)
        found = await self.deps.batches.list(
            state=state, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE, owner_id=owner(request)
        )
        return render(
            request,
            "batches.html",
            {
                "batches": found[:PER_PAGE],
                "has_next": len(found) > PER_PAGE,
                "page": page,
                "state": state,
                "states": STATES,
            },
        )

    async def create(self, request: Request) -> Response:
        form = await read_form(request)
        name = form.get("name").strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidForm(f"a batch needs a name of 1..{MAX_NAME} characters")
        raw_expected = form.get("expected_files").strip()
        if raw_expected and (not raw_expected.isdigit() or not 1 <= int(raw_expected) <= 1_000_000):
            raise InvalidForm("expected files must be a whole number in 1..1000000, or empty")
        doc = await self.deps.batches.create(
            name=name,
            expected_files=int(raw_expected) if raw_expected else None,
            metadata={},
            owner_id=auth.owner_for_new(principal(request)),
        )
        return RedirectResponse(f"/batches/{doc['id']}", status_code=303)

    async def _visible(self, request: Request) -> str:
        """The batch id of the path; someone else's batch is BatchNotFound, as an unknown id."""
        batch_id: str = request.path_params["batch_id"]
        batch = await self.deps.batches.batches.get(batch_id)
        if batch is None or not visible(request, batch.owner_id):
            raise BatchNotFound()
        return batch_id

    async def show(self, request: Request) -> Response:
        doc = await self.deps.batches.get(await self._visible(request))
        return render(request, "batch.html", {"batch": doc})

    async def seal(self, request: Request) -> Response:
        batch_id = await self._visible(request)
        await read_form(request)
        await self.deps.batches.seal(batch_id)
        return RedirectResponse(f"/batches/{batch_id}", status_code=303)

    async def cancel(self, request: Request) -> Response:
        batch_id = await self._visible(request)
        await read_form(request)
        await self.deps.batches.cancel(batch_id)
        return RedirectResponse(f"/batches/{batch_id}", status_code=303)
