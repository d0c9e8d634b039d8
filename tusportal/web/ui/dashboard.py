"""The dashboard (/): uploads by state, recent files, open batches, event backlog, failing webhooks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tusportal.service.files import UPLOAD_STATES
from tusportal.web.ui import html_errors, render
from tusportal.web.ui.deps import UIDeps, owner


class Dashboard:
    def __init__(self, deps: UIDeps):
        self.deps = deps

    def routes(self) -> list[Route]:
        return [Route("/", html_errors(self.show), methods=["GET"])]

    async def show(self, request: Request) -> Response:
        who = owner(request)
        d = self.deps
        totals = await d.files.totals_by_state(who)
        return render(
            request,
            "dashboard.html",
            {
                "states": [(s, *totals.get(s, (0, 0, 0))) for s in UPLOAD_STATES],
                "recent": await d.files.recent(who, 10),
                "open_batches": await d.batches.list(state="open", limit=10, offset=0, owner_id=who),
                "backlog": await d.monitor.backlog(who),
                "failing": await d.monitor.failing_webhooks(who),
            },
        )
