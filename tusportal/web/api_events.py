"""JSON API for webhooks, their deliveries (with replay), and the pull feed of events.

POST   /api/webhooks                      {url, event_types, description?, enabled?} -> 201 + secret
GET    /api/webhooks                      list
GET    /api/webhooks/{id}                 one (never the secret)
PATCH  /api/webhooks/{id}                 {url?, event_types?, description?, enabled?, rotate_secret?}
DELETE /api/webhooks/{id}                 204
GET    /api/webhooks/{id}/deliveries      ?state=pending|delivered|dead&limit=
POST   /api/webhooks/{id}/replay          every dead delivery of the webhook -> 202
GET    /api/deliveries/{id}               one delivery with every attempt
POST   /api/deliveries/{id}/replay        deliver again (dead or delivered) -> 202
GET    /api/events                        ?after=<cursor>&wait=<s>&type=<t>&batch=<id>&limit=
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.errors import InvalidRequestBody
from tusportal.events.management import DeliveryNotFound, EventManagement, WebhookNotFound
from tusportal.web.auth import principal
from tusportal.web.json_body import read_model


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=20)
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class WebhookChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    rotate_secret: bool = False


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise InvalidRequestBody(f"query parameter {name!r} must be a number in {low:g}..{high:g}")
    return value


def _delivery_id(request: Request) -> int:
    raw = request.path_params["delivery_id"]
    if not raw.isdigit():
        raise DeliveryNotFound()
    return int(raw)


class EventEndpoints:
    def __init__(self, events: EventManagement):
        self.events = events

    # someone else's webhook or delivery answers 404 exactly as an unknown id does

    async def _webhook_id(self, request: Request) -> str:
        webhook_id: str = request.path_params["webhook_id"]
        who = principal(request)
        if auth.owner_filter(who) is not None and not auth.can_access(
            who, await self.events.webhook_owner(webhook_id)
        ):
            raise WebhookNotFound()
        return webhook_id

    async def _delivery_id(self, request: Request) -> int:
        delivery_id = _delivery_id(request)
        who = principal(request)
        if auth.owner_filter(who) is not None and not auth.can_access(
            who, await self.events.delivery_owner(delivery_id)
        ):
            raise DeliveryNotFound()
        return delivery_id

    def routes(self) -> list[Route]:
        return [
            Route("/api/webhooks", self.webhooks, methods=["GET", "POST"]),
            Route("/api/webhooks/{webhook_id}", self.webhook, methods=["GET", "PATCH", "DELETE"]),
            Route("/api/webhooks/{webhook_id}/deliveries", self.webhook_deliveries, methods=["GET"]),
            Route("/api/webhooks/{webhook_id}/replay", self.replay_webhook, methods=["POST"]),
            Route("/api/deliveries/{delivery_id}", self.delivery, methods=["GET"]),
            Route("/api/deliveries/{delivery_id}/replay", self.replay_delivery, methods=["POST"]),
            Route("/api/events", self.feed, methods=["GET"]),
        ]

    async def webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            spec: NewWebhook = await read_model(request, NewWebhook)
            doc = await self.events.create_webhook(
                url=spec.url,
                event_types=spec.event_types,
                description=spec.description,
                enabled=spec.enabled,
                owner_id=auth.owner_for_new(principal(request)),
            )
            return JSONResponse(doc, status_code=201, headers={"Location": f"/api/webhooks/{doc['id']}"})
        owner = auth.owner_filter(principal(request))
        return JSONResponse({"webhooks": await self.events.list_webhooks(owner)})

    async def webhook(self, request: Request) -> Response:
        webhook_id = await self._webhook_id(request)
        if request.method == "DELETE":
            await self.events.delete_webhook(webhook_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            change: WebhookChange = await read_model(request, WebhookChange)
            return JSONResponse(
                await self.events.update_webhook(
                    webhook_id,
                    url=change.url,
                    event_types=change.event_types,
                    description=change.description,
                    enabled=change.enabled,
                    rotate_secret=change.rotate_secret,
                )
            )
        return JSONResponse(await self.events.get_webhook(webhook_id))

    async def webhook_deliveries(self, request: Request) -> Response:
        found = await self.events.deliveries(
            webhook_id=await self._webhook_id(request),
            state=request.query_params.get("state"),
            limit=int(_number(request, "limit", 100, 1, 1000)),
        )
        return JSONResponse({"deliveries": found})

    async def replay_webhook(self, request: Request) -> Response:
        replayed = await self.events.replay(webhook_id=await self._webhook_id(request))
        return JSONResponse({"replayed": replayed}, status_code=202)

    async def delivery(self, request: Request) -> Response:
        return JSONResponse(await self.events.delivery(await self._delivery_id(request)))

    async def replay_delivery(self, request: Request) -> Response:
        replayed = await self.events.replay(delivery_id=await self._delivery_id(request))
        return JSONResponse({"replayed": replayed}, status_code=202)

    async def feed(self, request: Request) -> Response:
        params = request.query_params
        types = [t for raw in params.getlist("type") for t in raw.split(",") if t]
        page = await self.events.feed(
            after=params.get("after", "0"),
            wait=_number(request, "wait", 0, 0, 60),
            limit=int(_number(request, "limit", 100, 1, 1000)),
            types=types or None,
            batch_id=params.get("batch") or None,
            owner_id=auth.owner_filter(principal(request)),
        )
        return JSONResponse(page)
