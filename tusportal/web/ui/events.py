"""The event monitor (/events): the outbox, newest first, with each event's webhook deliveries and
their attempts; filter by type and delivery state; replay a dead delivery."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.events.management import DeliveryNotFound
from tusportal.events.monitor import MAX_PAGE
from tusportal.events.schema import EVENT_TYPES
from tusportal.state.event_monitor import DELIVERY_STATES
from tusportal.web.auth import principal
from tusportal.web.ui import html_errors, render
from tusportal.web.ui.deps import UIDeps, owner
from tusportal.web.ui.forms import local_path, query_int, query_text, read_form

PER_PAGE = 25


class EventPages:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route("/events", html_errors(self.list), methods=["GET"]),
            Route("/events/deliveries/{delivery_id}/replay", html_errors(self.replay), methods=["POST"]),
        ]

    async def list(self, request: Request) -> Response:
        event_type = query_text(request, "type")
        state = query_text(request, "state")
        page = await self.deps.monitor.page(
            owner_id=owner(request),
            event_type=event_type,
            delivery_state=state,
            page=query_int(request, "page", 1, 1, MAX_PAGE),
            per_page=PER_PAGE,
        )
        return render(
            request,
            "events.html",
            {
                "page": page,
                "event_type": event_type,
                "state": state,
                "types": EVENT_TYPES,
                "delivery_states": DELIVERY_STATES,
                "backlog": await self.deps.monitor.backlog(owner(request)),
            },
        )

    async def replay(self, request: Request) -> Response:
        """Deliver again; a delivery to someone else's webhook answers 404 as an unknown one."""
        raw = request.path_params["delivery_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise DeliveryNotFound()
        delivery_id = int(raw)
        who = principal(request)
        if not auth.can_access(who, await self.deps.events.delivery_owner(delivery_id)):
            raise DeliveryNotFound()
        form = await read_form(request)
        await self.deps.events.replay(delivery_id=delivery_id)
        return RedirectResponse(local_path(form.get("next"), "/events"), status_code=303)
