"""JSON API for API tokens and the caller: `GET/POST /api/tokens`, `DELETE /api/tokens/{id}`,
`GET /api/me`.

A user lists, creates and revokes their own tokens; an admin lists and revokes everyone's (each item
names its `user_id`). Someone else's token id answers 404 exactly as an unknown one. A new token is
in the creating response only (`token`), never again. Called with the session cookie, the unsafe
methods need the `X-CSRF-Token` header (the middleware checks it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.service.accounts import AccountService, TokenNotFound
from tusportal.state.accounts import ApiToken
from tusportal.web.auth import principal
from tusportal.web.json_body import read_model


class NewToken(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=36500)


def token_state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "live"


def token_doc(token: ApiToken, now: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": token.id,
        "name": token.name,
        "user_id": token.user_id,
        "state": token_state(token, now),
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def _caller(request: Request) -> auth.Principal:
    who = principal(request)
    assert who is not None, "routes registered only with TUSPORTAL_AUTH=required"
    return who


class TokenEndpoints:
    def __init__(self, accounts: AccountService):
        self.accounts = accounts

    def routes(self) -> list[Route]:
        return [
            Route("/api/tokens", self.collection, methods=["GET", "POST"]),
            Route("/api/tokens/{token_id}", self.revoke, methods=["DELETE"]),
            Route("/api/me", self.me, methods=["GET"]),
        ]

    async def collection(self, request: Request) -> Response:
        who = _caller(request)
        now = datetime.now().astimezone()
        if request.method == "POST":
            spec = await read_model(request, NewToken, limit=16 * 1024)
            record, token = await self.accounts.create_token_for(
                who.user_id, name=spec.name, expires_in_days=spec.expires_in_days
            )
            return JSONResponse(
                {**token_doc(record, now), "token": token},
                status_code=201,
                headers={"Cache-Control": "no-store", "Location": f"/api/tokens/{record.id}"},
            )
        tokens = await self.accounts.tokens_for(auth.owner_filter(who))
        return JSONResponse({"tokens": [token_doc(t, now) for t in tokens]})

    async def revoke(self, request: Request) -> Response:
        who = _caller(request)
        token_id: str = request.path_params["token_id"]
        if len(token_id) > 200:
            raise TokenNotFound()
        await self.accounts.revoke_token(token_id, user_id=auth.owner_filter(who))
        return Response(status_code=204)

    async def me(self, request: Request) -> Response:
        who = _caller(request)
        return JSONResponse(
            {"id": who.user_id, "email": who.email, "is_admin": who.is_admin},
            headers={"Cache-Control": "no-store"},
        )
