"""Webhook subscriptions (/webhooks): list, create (the signing secret is shown once), enable or
disable, delete. The same EventManagement calls as the JSON API, with the same owner rules."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tusportal import auth
from tusportal.events.management import WebhookNotFound
from tusportal.events.schema import EVENT_TYPES
from tusportal.web.auth import principal
from tusportal.web.ui import html_errors, render
from tusportal.web.ui.deps import UIDeps, owner
from tusportal.web.ui.forms import InvalidForm, read_form


class WebhookPages:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [
            Route("/webhooks", html_errors(self.list), methods=["GET"]),
            Route("/webhooks", html_errors(self.create), methods=["POST"]),
            Route("/webhooks/{webhook_id}/enable", html_errors(self.enable), methods=["POST"]),
            Route("/webhooks/{webhook_id}/disable", html_errors(self.disable), methods=["POST"]),
            Route("/webhooks/{webhook_id}/delete", html_errors(self.delete), methods=["POST"]),
        ]

    async def _page(self, request: Request, created: dict[str, object] | None = None) -> Response:
        return render(
            request,
            "webhooks.html",
            {
                "webhooks": await self.deps.events.list_webhooks(owner(request)),
                "types": EVENT_TYPES,
                "created": created,
            },
            status_code=201 if created else 200,
        )

    async def list(self, request: Request) -> Response:
        return await self._page(request)

    async def create(self, request: Request) -> Response:
        form = await read_form(request)
        url = form.get("url").strip()
        types = form.getlist("event_types")
        if not url:
            raise InvalidForm("a webhook needs a URL")
        if len(form.get("description")) > 500:
            raise InvalidForm("the description is longer than 500 characters")
        doc = await self.deps.events.create_webhook(
            url=url,
            event_types=types,
            description=form.get("description").strip(),
            enabled=True,
            owner_id=auth.owner_for_new(principal(request)),
        )
        # the secret is shown this once, on the page answering the POST; never stored in a URL
        return await self._page(request, created=doc)

    async def _visible(self, request: Request) -> str:
        webhook_id: str = request.path_params["webhook_id"]
        if not auth.can_access(principal(request), await self.deps.events.webhook_owner(webhook_id)):
            raise WebhookNotFound()
        await read_form(request)
        return webhook_id

    async def enable(self, request: Request) -> Response:
        await self.deps.events.update_webhook(await self._visible(request), enabled=True)
        return RedirectResponse("/webhooks", status_code=303)

    async def disable(self, request: Request) -> Response:
        await self.deps.events.update_webhook(await self._visible(request), enabled=False)
        return RedirectResponse("/webhooks", status_code=303)

    async def delete(self, request: Request) -> Response:
        await self.deps.events.delete_webhook(await self._visible(request))
        return RedirectResponse("/webhooks", status_code=303)
