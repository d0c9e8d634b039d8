"""Every route of the web UI: its pages, its own static files and the npm assets."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from tusportal.web.ui import STATIC_DIR, assets
from tusportal.web.ui.batches import BatchPages
from tusportal.web.ui.dashboard import Dashboard
from tusportal.web.ui.deps import UIDeps
from tusportal.web.ui.events import EventPages
from tusportal.web.ui.files import FilePages
from tusportal.web.ui.upload import UploadPage
from tusportal.web.ui.webhooks import WebhookPages


def ui_routes(deps: UIDeps) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for pages in (Dashboard, UploadPage, FilePages, BatchPages, EventPages, WebhookPages):
        routes += pages(deps).routes()
    routes += assets.routes(deps.node_modules)  # /static/vendor/... before /static
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR)))
    return routes
