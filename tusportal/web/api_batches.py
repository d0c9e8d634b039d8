"""JSON API for batches: create, list, read (with per-file and total progress), seal, cancel."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.errors import BatchNotFound, InvalidRequestBody
from tusportal.service import BatchService
from tusportal.web.auth import principal
from tusportal.web.json_body import read_model

STATES = ("open", "sealed", "completed", "cancelled")


class NewBatch(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=200)
    expected_files: int | None = Field(default=None, gt=0, le=1_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequestBody(f"query parameter {name!r} must be an integer in {low}..{high}")
    return int(raw)


class BatchEndpoints:
    def __init__(self, batches: BatchService):
        self.batches = batches

    def routes(self) -> list[Route]:
        return [
            Route("/api/batches", self.collection, methods=["GET", "POST"]),
            Route("/api/batches/{batch_id}", self.read, methods=["GET"]),
            Route("/api/batches/{batch_id}/seal", self.seal, methods=["POST"]),
            Route("/api/batches/{batch_id}/cancel", self.cancel, methods=["POST"]),
        ]

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            spec = await read_model(request, NewBatch)
            doc = await self.batches.create(
                name=spec.name,
                expected_files=spec.expected_files,
                metadata=spec.metadata,
                owner_id=auth.owner_for_new(principal(request)),
            )
            return JSONResponse(doc, status_code=201, headers={"Location": f"/api/batches/{doc['id']}"})
        state = request.query_params.get("state")
        if state is not None and state not in STATES:
            raise InvalidRequestBody(f"state must be one of {', '.join(STATES)}")
        items = await self.batches.list(
            state=state,
            limit=_int(request, "limit", 50, 1, 500),
            offset=_int(request, "offset", 0, 0, 10_000_000),
            owner_id=auth.owner_filter(principal(request)),
        )
        return JSONResponse({"batches": items})

    async def _visible_id(self, request: Request) -> str:
        """The batch id of the path; someone else's batch answers 404 as an unknown id does."""
        batch_id: str = request.path_params["batch_id"]
        if auth.owner_filter(principal(request)) is not None:
            batch = await self.batches.batches.get(batch_id)
            if batch is None or not auth.can_access(principal(request), batch.owner_id):
                raise BatchNotFound()
        return batch_id

    async def read(self, request: Request) -> Response:
        return JSONResponse(await self.batches.get(await self._visible_id(request)))

    async def seal(self, request: Request) -> Response:
        return JSONResponse(await self.batches.seal(await self._visible_id(request)))

    async def cancel(self, request: Request) -> Response:
        return JSONResponse(await self.batches.cancel(await self._visible_id(request)))
